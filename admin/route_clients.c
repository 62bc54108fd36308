/* GET /clients (paged by ID) and GET /clients/<id>: the node's client table. */
#include <string.h>

#include <event2/http.h>

#include "admin_route.h"
#include "clients_view.h"
#include "node.h"
#include "table.h"

/* Room for the largest page; pointers into the table, valid during one request only. */
static const struct record *page[CLIENTS_LIMIT_MAX];

/* One page of the table, sorted by ID, with the total and the ID to continue after. */
static void route_clients(struct admin_request *ar)
{
	struct clients_query query;
	const char *why;
	struct json_out *j;
	size_t n;
	bool more;

	if (!clients_query_parse(ar->query, &query, &why)) {
		admin_reply_error(ar, HTTP_BADREQUEST, why);
		return;
	}
	n = clients_page(node_table(), query.after, query.after_len, page, query.limit, &more);
	j = admin_json_begin(ar);
	json_map_open(j);
	json_u64_member(j, "count", table_count(node_table()));
	json_key(j, "clients");
	json_array_open(j);
	for (size_t i = 0; i < n; i++)
		clients_json_record(j, page[i]);
	json_array_close(j);
	if (more) {
		json_bytes_member(j, "next", record_id(page[n - 1]).p, record_id(page[n - 1]).len);
	} else {
		json_key(j, "next");
		json_null(j);
	}
	json_map_close(j);
	admin_reply_json(ar, HTTP_OK);
}

/* The client named by the rest of the path, percent-decoded to any bytes. */
static void route_client(struct admin_request *ar)
{
	char id[PROTO_ID_MAX];
	size_t len;
	const struct record *rec;

	if (!percent_decode(ar->rest, strlen(ar->rest), id, sizeof(id), &len)) {
		admin_reply_error(ar, HTTP_BADREQUEST,
		    "the client ID must be percent-encoded and at most 255 bytes");
		return;
	}
	rec = len > 0 ? table_get(node_table(), id, len) : NULL;
	if (rec == NULL) {
		admin_reply_error(ar, HTTP_NOTFOUND, "no such client");
		return;
	}
	clients_json_record(admin_json_begin(ar), rec);
	admin_reply_json(ar, HTTP_OK);
}

const struct admin_route route_clients_entry = {
	.path = "/clients",
	.handle = route_clients,
};

const struct admin_route route_client_entry = {
	.path = "/clients/",
	.handle = route_client,
};
