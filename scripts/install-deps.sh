#!/usr/bin/env bash
# Installs the Debian packages ml-connector needs, only those missing. Idempotent.
set -euo pipefail
pkgs=(build-essential pkg-config libzmq3-dev libmsgpack-dev libcjson-dev librocksdb-dev
      libcurl4-openssl-dev libsodium-dev libmicrohttpd-dev libcmocka-dev clang
      clang-format libclang-rt-14-dev libjemalloc-dev curl jq procps)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
