# Helpers for tests/compose/run.sh: the tools, the base image, the ml-connector image, the
# compose project and its containers. Source it from the repository root.
#
# Needs: P (compose project name), LOGDIR (where logs go). Uses CONTAINERS_CONF, set by the
# caller to the project's containers.conf.

: "${MLC_ROOTFS:=/var/tmp/mlc-rootfs/bookworm}"
: "${MLC_BASE_IMAGE:=docker.io/library/debian:bookworm-slim}"
: "${MLC_IMAGE:=localhost/ml-connector:latest}"

say () { printf '# %s\n' "$*"; }

# cc_install_tools: podman, podman-compose, runc, netavark/aardvark-dns (name resolution on
# the compose network), debootstrap, curl, jq; only those missing (apt-get, sudo if not root).
cc_install_tools () {
    local pkgs=(podman podman-compose runc netavark aardvark-dns iptables debootstrap curl jq
                python3)
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" \
            >"$LOGDIR/apt.log" 2>&1
}

# cc_base_image: debian:bookworm-slim for the build, made with debootstrap when it is not
# in podman's store (no registry is reachable from here).
cc_base_image () {
    podman image exists "$MLC_BASE_IMAGE" && return 0
    if [ ! -f "$MLC_ROOTFS/etc/debian_version" ] || [ ! -x "$MLC_ROOTFS/usr/bin/apt-get" ]; then
        say "debootstrap --variant=minbase bookworm $MLC_ROOTFS"
        rm -rf "$MLC_ROOTFS" && mkdir -p "$MLC_ROOTFS" &&
            debootstrap --variant=minbase bookworm "$MLC_ROOTFS" http://deb.debian.org/debian \
                >"$LOGDIR/debootstrap.log" 2>&1 || { tail -20 "$LOGDIR/debootstrap.log" >&2; return 1; }
    fi
    say "importing $MLC_ROOTFS as $MLC_BASE_IMAGE"
    tar -C "$MLC_ROOTFS" -c . | podman import - "$MLC_BASE_IMAGE" >"$LOGDIR/import.log" 2>&1
}

# cc_build: the ml-connector image from the Dockerfile, never pulling anything.
cc_build () {
    podman build --pull=never -t "$MLC_IMAGE" . >"$LOGDIR/build.log" 2>&1 ||
        { tail -30 "$LOGDIR/build.log" >&2; return 1; }
}

# cc_free_port: a free TCP port on 127.0.0.1.
cc_free_port () {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pc ARGS...: podman-compose on this project; output appended to compose.log.
pc () {
    echo "+ podman-compose $*" >>"$LOGDIR/compose.log"
    podman-compose -p "$P" -f compose.yaml "$@" >>"$LOGDIR/compose.log" 2>&1
}

# cc_containers SERVICE [all]: the project's containers of SERVICE (running only, or all),
# one name per line, ordered by container number.
cc_containers () {
    local all=()
    [ "${2:-}" = all ] && all=(-a)
    podman ps "${all[@]}" --filter "label=io.podman.compose.project=$P" \
        --filter "label=com.docker.compose.service=$1" \
        --format '{{index .Labels "com.docker.compose.container-number"}} {{.Names}}' |
        sort -n | awk '{print $2}'
}

# cc_count SERVICE: how many containers of SERVICE run.
cc_count () { cc_containers "$1" | grep -c . ; }

# cc_one SERVICE: the first running container of SERVICE.
cc_one () { cc_containers "$1" | head -1; }

# cc_scale_loaders N: what `docker compose up -d --scale loader=N` does, done with the tools
# podman-compose 1.0 has: loaders numbered above N are stopped (SIGTERM: they flush what
# they hold) and removed, then `up` with deploy.replicas = N creates the missing ones and
# starts any that are stopped.
cc_scale_loaders () {
    local n=$1 name num
    for name in $(cc_containers loader all); do
        num=$(podman inspect -f '{{index .Config.Labels "com.docker.compose.container-number"}}' "$name")
        if [ "$num" -gt "$n" ]; then
            podman stop -t 30 "$name" >>"$LOGDIR/compose.log" 2>&1
            podman logs "$name" >"$LOGDIR/$name.log" 2>&1
            podman rm "$name" >>"$LOGDIR/compose.log" 2>&1
        fi
    done
    LOADERS=$n pc up -d --no-build loader
}

# cc_save_logs: every container's log of the project into LOGDIR.
cc_save_logs () {
    local name
    for name in $(podman ps -a --filter "label=io.podman.compose.project=$P" --format '{{.Names}}'); do
        podman logs "$name" >"$LOGDIR/$name.log" 2>&1
    done
}

# cc_teardown: removes every container, volume and network of the project (by label, so
# containers a scale operation left behind go too).
cc_teardown () {
    local ids
    ids=$(podman ps -aq --filter "label=io.podman.compose.project=$P")
    [ -n "$ids" ] && podman rm -f -t 5 $ids >/dev/null 2>&1
    ids=$(podman volume ls -q --filter "label=io.podman.compose.project=$P")
    [ -n "$ids" ] && podman volume rm -f $ids >/dev/null 2>&1
    ids=$(podman network ls -q --filter "label=io.podman.compose.project=$P")
    [ -n "$ids" ] && podman network rm -f $ids >/dev/null 2>&1
    return 0
}

# sf_stats [JQ]: salesforce-sim statistics through its published loopback port.
sf_stats () { curl -fsS "http://127.0.0.1:$SF_SIM_PORT/__sim/stats" | jq -r "${1:-.}"; }
accounts () { sf_stats '.records.Account // 0'; }

# cs_vendors FILE: every supplier of the tenant, straight from cloudsuite-sim (a token from the
# credentials of the .ionapi file it wrote; the file never leaves LOGDIR's 0700 directory).
cs_vendors () {
    local out=$1 ion="$LOGDIR/tenant.ionapi" token base="http://127.0.0.1:$CS_SIM_PORT"
    podman exec "$(cc_one cloudsuite-sim)" cat /var/lib/mlc-ionapi/ACME_PRD.ionapi >"$ion" ||
        return 1
    token=$(curl -fsS -X POST "$base/ACME_PRD/as/token.oauth2" \
        --data-urlencode grant_type=password \
        --data-urlencode "username=$(jq -r .saak "$ion")" \
        --data-urlencode "password=$(jq -r .sask "$ion")" \
        --data-urlencode "client_id=$(jq -r .ci "$ion")" \
        --data-urlencode "client_secret=$(jq -r .cs "$ion")" | jq -r .access_token) || return 1
    curl -fsS -G "$base/ACME_PRD/CSI/IDORequestService/ido/load/SLVendors" \
        -H "Authorization: Bearer $token" -H "X-Infor-MongooseConfig: CSI_DEMO" \
        --data-urlencode "properties=*" --data-urlencode recordcap=0 | jq '.Items' >"$out"
}

# wait_for SECONDS CMD...: polls CMD every second until it succeeds; 1 on timeout.
wait_for () {
    local end=$(( $(date +%s) + $1 )); shift
    while [ "$(date +%s)" -lt "$end" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

# wait_settled SECONDS QUIET N: waits (at most SECONDS) until salesforce-sim has seen no API
# call for QUIET seconds in a row, or for 3 s once it holds N Accounts; 1 on timeout.
wait_settled () {
    local end=$(( $(date +%s) + $1 )) quiet=$2 n=$3 last=-1 since now calls
    since=$(date +%s)
    while [ "$(date +%s)" -lt "$end" ]; do
        calls=$(sf_stats '.api_calls' 2>/dev/null || echo -1)
        now=$(date +%s)
        if [ "$calls" != "$last" ]; then
            last=$calls
            since=$now
        elif [ $((now - since)) -ge "$quiet" ]; then
            return 0
        elif [ $((now - since)) -ge 3 ] && [ "$(accounts)" -ge "$n" ]; then
            return 0
        fi
        sleep 1
    done
    return 1
}
