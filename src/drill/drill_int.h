/* drill internals shared by the lexer, parser and interpreter. */
#ifndef PM_DRILL_INT_H
#define PM_DRILL_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/drill.h"

/* ---- Arena: everything a script owns ---------------------------------- */

typedef struct pm_drill_arena pm_drill_arena;
pm_drill_arena *pm_drill_arena_new(void);
void pm_drill_arena_free(pm_drill_arena *a);
void *pm_drill_alloc(pm_drill_arena *a, size_t n); /* zeroed; NULL when out of memory */
char *pm_drill_strndup(pm_drill_arena *a, const char *s, size_t n);

/* ---- Lexer -------------------------------------------------------------- */

typedef enum pm_tok_kind {
    TK_EOF,
    TK_INT,      /* 12, -1 */
    TK_HEX,      /* 0x1f */
    TK_FLOAT,    /* 0.1, .5, -0.2 */
    TK_WORD,     /* [A-Za-z0-9_]+ that is not a number */
    TK_STRING,   /* "..." (text without quotes, escapes kept) */
    TK_BACKTICK, /* `...` */
    TK_CODE,     /* %{ ... }% */
    TK_OPTION,   /* --name */
    TK_ELLIPSIS, /* ... */
    TK_IPV4,     /* 1.2.3.4 */
    TK_IPV6,     /* 2001:db8::1 */
    TK_CHAR,     /* any other single character */
    TK_ERROR,    /* lexical error: msg holds why */
} pm_tok_kind;

typedef struct pm_tok {
    pm_tok_kind kind;
    const char *p; /* start in the (preprocessed) text */
    size_t len;
    int line;
    bool space_before; /* whitespace or a comment precedes it */
    int64_t i;         /* INT, HEX */
    double f;          /* FLOAT */
    bool overflow;     /* INT/HEX did not fit in int64 */
    char c;            /* CHAR */
    const char *msg;   /* ERROR */
} pm_tok;

typedef struct pm_lexer {
    const char *text; /* preprocessed copy, NUL-terminated */
    size_t len;
    size_t pos;
    int line;
} pm_lexer;

/* Applies #ifdef/#ifndef/#else/#endif (excluded lines become blank, line
 * numbers stay). Returns a NUL-terminated copy in the arena, or NULL with
 * "LINE: message" in err. */
char *pm_drill_preprocess(pm_drill_arena *a, const char *text, size_t len, const char *const *defs,
                          size_t n_defs, char *err, size_t errcap);
void pm_lex_init(pm_lexer *lx, const char *text, size_t len);
pm_tok pm_lex_next(pm_lexer *lx);

/* ---- Tables (symbols.c) ------------------------------------------------- */

/* ICMP type/code names as packetdrill spells them; -1 when unknown. */
int pm_drill_icmp_type(int version, const char *name);
int pm_drill_icmp_code(int version, int type, const char *name);
const char *pm_drill_errno_name(int e); /* "EINPROGRESS", or NULL */

/* Bounded snprintf appender. */
typedef struct pm_sbuf {
    char *buf;
    size_t cap, len;
} pm_sbuf;
void pm_sbuf_init(pm_sbuf *b, char *buf, size_t cap);
void pm_sbuf_printf(pm_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
