/*  cssim_filter: the IDO `filter` parameter, a subset of the SQL WHERE syntax the Mongoose
    IDO runtime accepts, compiled against one IDO schema and evaluated per row.

    Grammar (keywords case-insensitive):
      expr   := term { OR term }
      term   := factor { AND factor }
      factor := NOT factor | '(' expr ')' | Prop cmp literal | Prop [NOT] LIKE 'pat'
              | Prop [NOT] IN '(' literal {',' literal} ')' | Prop IS [NOT] NULL
              | Prop [NOT] BETWEEN literal AND literal
      cmp    := = | <> | != | < | <= | > | >=
      literal:= 'text' ('' escapes a quote; N'text' allowed) | number
    Datetime properties take any form cssim_datetime_norm accepts; text compares
    case-insensitively like SQL Server's default collation; an empty value is NULL and
    matches only IS NULL. */
#ifndef CSSIM_FILTER_H
#define CSSIM_FILTER_H

#include "cssim_data.h"

#define CSSIM_FILTER_MAX_LEN   8192 /* longest filter text */
#define CSSIM_FILTER_MAX_NODES 512  /* conditions and operators */

typedef struct cssim_filter_t cssim_filter_t;

/*  Compiles `text` for the IDO. Returns the filter, or NULL with a message in err naming
    the problem: "Invalid filter: ..." for syntax, "Invalid column name 'X'." for an
    unknown property. An empty or blank text gives a filter that matches every row. */
cssim_filter_t *cssim_filter_new (const cssim_ido_t *ido, const char *text, char *err,
                                  size_t err_cap);

/*  Frees a filter. Accepts NULL; sets *self_p to NULL. */
void cssim_filter_destroy (cssim_filter_t **self_p);

/*  1 when the row matches, else 0. */
int cssim_filter_match (const cssim_filter_t *self, const cssim_row_t *row);

/*  1 when the filter matches everything (no condition). */
int cssim_filter_is_empty (const cssim_filter_t *self);

#endif
