/*
 * The JSON part of a WHATSAT reply, made from a Places answer while its body streams
 * (SPEC sections 3 and 5). A yajl callback parser checks every byte and follows the
 * document:
 *
 * - legacy answers are passed on as Places wrote them, keeping at most `bound` elements
 *   of the top-level "results" array (the text is cut where the parser says elements
 *   end, never written again);
 * - new-API answers ({"places": [...]} or {"error": {...}}) are translated to the legacy
 *   shape ({"html_attributions", "results", "status", "error_message"}) through a yajl
 *   generator.
 *
 * Input size, output size and nesting depth are capped, so a hostile upstream can cost
 * a bounded amount of memory. No I/O here: the Places client, the unit tests, the fuzzer
 * and the benchmark all drive it the same way.
 */
#ifndef HERD_PLACES_FILTER_H
#define HERD_PLACES_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#define PLACES_FILTER_BOUND_MAX 20        /* WHATSAT's largest bound */
#define PLACES_FILTER_DEPTH_MAX 32        /* containers deeper than this are refused */

enum places_filter_api {
	PLACES_FILTER_LEGACY,
	PLACES_FILTER_NEW,
};

struct places_filter;

/*
 * A filter keeping at most BOUND (1..PLACES_FILTER_BOUND_MAX) results of an answer of at
 * most MAX_INPUT bytes.
 */
struct places_filter *places_filter_new(enum places_filter_api api, size_t bound,
    size_t max_input);
void places_filter_free(struct places_filter *f);
/*
 * Makes F what places_filter_new would make, keeping the memory its buffers have grown
 * (places_filter_memory bytes), so that a filter can serve one answer after another.
 */
void places_filter_reset(struct places_filter *f, enum places_filter_api api, size_t bound,
    size_t max_input);
size_t places_filter_memory(const struct places_filter *f);

/* Feeds the next LEN bytes of the answer; false once the answer is refused. */
bool places_filter_feed(struct places_filter *f, const void *data, size_t len);
/* Ends the answer; false when it was refused or is not one complete JSON object. */
bool places_filter_finish(struct places_filter *f);

/* Why the answer was refused ("" while it was not). */
const char *places_filter_error(const struct places_filter *f);
/* The answer's status ("OK", "ZERO_RESULTS", ...) once finished, "" if it had none. */
const char *places_filter_status(const struct places_filter *f);
/* How many results the finished document holds (at most the filter's bound). */
size_t places_filter_results(const struct places_filter *f);

/*
 * The finished document with at most BOUND results, runs of newlines collapsed and no
 * trailing newline. Trimming to a smaller bound gives exactly what a filter made with
 * that bound would have, so one upstream answer can serve several bounds. The text
 * lives in the filter until the next call; NULL if the answer was refused.
 */
const char *places_filter_json(struct places_filter *f, size_t bound, size_t *len);

#endif
