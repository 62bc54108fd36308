/*
 * Inside the Places filter: the state that places_filter.c (buffers, the path through
 * the answer, the public calls), places_legacy.c (copying a legacy answer) and
 * places_new.c (translating a new-API answer) share. Not for use outside them.
 */
#ifndef HERD_PLACES_STREAM_H
#define HERD_PLACES_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <yajl/yajl_parse.h>

#include "json_out.h"
#include "places_filter.h"

#define PATH_TEXT_MAX 512                 /* keys are not spelled out past this length */
#define PATH_SIZE (PATH_TEXT_MAX + 4 * PLACES_FILTER_DEPTH_MAX)
#define PATH_OPAQUE '\001'                /* stands for a key no table entry can match */
#define STATUS_SIZE 64
#define MESSAGE_SIZE 512
#define PLACE_TYPES_MAX 32

/* A growable byte buffer that refuses to grow past MAX. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;
	bool full;       /* a write was refused: it would have passed MAX */
};

/* One open container of the answer. */
struct frame {
	bool is_array;
	bool is_results;     /* the top-level "results" (legacy) or "places" (new) array */
	size_t path_len;     /* length of the container's own path */
	size_t count;        /* elements begun so far, arrays only */
};

/* Fields of a new-API place (and of its error object) that the translation keeps. */
enum field {
	F_ID,
	F_NAME,
	F_SHORT_ADDRESS,
	F_ADDRESS,
	F_LAT,
	F_LNG,
	F_LOW_LAT,
	F_LOW_LNG,
	F_HIGH_LAT,
	F_HIGH_LNG,
	F_RATING,
	F_RATING_COUNT,
	F_BUSINESS_STATUS,
	F_ICON_MASK,
	F_ICON_BACKGROUND,
	F_PRICE_LEVEL,
	F_OPEN_NOW,
	F_OPEN_NOW_REGULAR,
	F_GLOBAL_CODE,
	F_COMPOUND_CODE,
	F_TYPE,
	F_ERROR_CODE,
	F_ERROR_MESSAGE,
	F_ERROR_STATUS,
	F_COUNT,
};

enum kind {
	K_NULL,
	K_BOOL,
	K_NUMBER,
	K_STRING,
};

/* A captured value: text in the place arena (LEN bytes at OFF), or a boolean in LEN. */
struct span {
	size_t off;
	size_t len;
	bool set;
};

struct places_filter {
	enum places_filter_api api;
	size_t bound;
	size_t max_input;
	size_t input_len;
	yajl_handle parser;
	const struct filter_ops *ops;    /* the API's handling of parser events */
	struct json_out gen;             /* new API: writes the document into OUT */
	struct buf out;                  /* legacy: the answer as it came; new: the translation */
	struct buf json;                 /* the last document handed out */
	size_t chunk_base;               /* legacy: offset in OUT of the piece being parsed */
	bool odd_space;                  /* legacy: the answer has a carriage return, a
					    vertical tab or a form feed (filter_plain_space) */
	char utf8_part[4];               /* a UTF-8 sequence the last piece cut short */
	size_t utf8_len;
	/* New API: the \u escape being read (filter_check_escapes). */
	int esc_state;
	unsigned esc_value;
	bool esc_want_low;               /* a high surrogate's escape came: a low one must */

	struct frame frames[PLACES_FILTER_DEPTH_MAX];
	size_t depth;
	size_t skip;                     /* open containers inside a skipped element */
	char path[PATH_SIZE];
	size_t path_len;

	bool seen_results;               /* the results (or places) array was opened */
	size_t kept;                     /* results kept */
	size_t marks[PLACES_FILTER_BOUND_MAX + 1];   /* offset in OUT where result i ends */
	size_t results_close;            /* offset in OUT where the text after the kept
					    results resumes: after the last result */
	size_t doc_start, doc_end;       /* the top-level object's text in OUT */
	bool complete;                   /* the top-level object closed */
	bool finished;
	char status[STATUS_SIZE];
	char error[MESSAGE_SIZE];

	/* New API: the place being read, and the error object. */
	struct buf arena;
	struct span fields[F_COUNT];
	struct span types[PLACE_TYPES_MAX];
	size_t ntypes;
};

/* Appends LEN bytes to B unless that would pass its cap; false if refused. */
bool filter_buf_add(struct buf *b, const void *data, size_t len);
/*
 * Legacy: the offset in OUT just past the token the parser has handed to the current
 * callback (yajl counts the bytes of the piece it is parsing as it lexes them).
 */
size_t filter_input_pos(const struct places_filter *f);
/* Records why the answer is refused (the first reason wins); returns 0 to stop yajl. */
int filter_fail(struct places_filter *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* What a callback returns: 1 to go on, 0 once anything went wrong. */
int filter_ok(struct places_filter *f);

/* The innermost open container, or NULL at the top. */
struct frame *filter_frame_top(struct places_filter *f);
/* Points the path at KEY of the innermost (map) container. */
void filter_path_key(struct places_filter *f, const unsigned char *key, size_t len);
/*
 * Called as any value starts: counts array elements and decides whether the value is
 * kept. Elements of the results array past the bound are skipped whole.
 */
bool filter_value_begin(struct places_filter *f, bool container);
/*
 * Opens a kept container at the current path; false when nested too deep. An array at
 * RESULTS_KEY of the top-level object is the results array.
 */
bool filter_frame_push(struct places_filter *f, bool is_array, const char *results_key);
/* Closes the innermost container; the path goes back to the container's own. */
struct frame filter_frame_pop(struct places_filter *f);
/* Copies LEN bytes of S into DST (SIZE bytes), cut if need be, NUL-terminated; a NUL
 * in S becomes '?'. */
void filter_copy_text(char *dst, size_t size, const char *s, size_t len);

/*
 * What one API does with each event of the parser; places_filter.c has the one set of
 * yajl callbacks, which hand every event to the filter's ops. Each returns what a yajl
 * callback does: 1 to go on, 0 to stop.
 */
struct filter_ops {
	int (*scalar)(struct places_filter *f, enum kind kind, const char *text, size_t len,
	    int boolean);
	int (*start)(struct places_filter *f, bool is_array);
	int (*end)(struct places_filter *f);
	int (*key)(struct places_filter *f, const unsigned char *key, size_t len);
};

extern const struct filter_ops places_legacy_ops;
extern const struct filter_ops places_new_ops;

#endif
