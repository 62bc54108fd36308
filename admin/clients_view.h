/*
 * The client table as the admin endpoint shows it: query parsing, paging by ID in byte
 * order, and one record as a JSON object. Pure code over the table, no I/O.
 */
#ifndef HERD_CLIENTS_VIEW_H
#define HERD_CLIENTS_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "json_out.h"
#include "proto.h"
#include "table.h"

#define CLIENTS_LIMIT_DEFAULT 100
#define CLIENTS_LIMIT_MAX 1000

/* GET /clients?limit=N&after=ID */
struct clients_query {
	size_t limit;
	char after[PROTO_ID_MAX];   /* percent-decoded; length 0: from the first client */
	size_t after_len;
};

/*
 * Parses the query string QUERY (NULL when there is none). On failure returns false and
 * points *WHY at a static reason for the 400 answer.
 */
bool clients_query_parse(const char *query, struct clients_query *out, const char **why);

/*
 * Percent-decodes (S, LEN) into OUT, which has room for SIZE bytes; '+' stays '+' (client
 * IDs may contain it), and the result may hold any byte. False for a malformed escape
 * or a result longer than SIZE.
 */
bool percent_decode(const char *s, size_t len, char *out, size_t size, size_t *out_len);


/*
 * Fills PAGE (room for LIMIT records) with the clients whose IDs are greater than
 * (AFTER, AFTER_LEN), smallest first, and returns how many it holds. *MORE tells whether
 * further clients follow the page. O(log n + LIMIT), from the table's ID order.
 */
size_t clients_page(const struct table *t, const char *after, size_t after_len,
    const struct record **page, size_t limit, bool *more);

/*
 * Writes REC as {"id", "latitude", "longitude", "client_time", "server", "time_diff",
 * "at"}, with "id_hex" and "at_hex" added when the ID is not UTF-8.
 */
void clients_json_record(struct json_out *j, const struct record *rec);

/*
 * The json_sink of every admin document: appends to the evbuffer EVBUFFER. Here, in the
 * pure part, so that the unit tests write documents as the routes do.
 */
bool admin_json_sink(void *evbuffer, const char *text, size_t len);

#endif
