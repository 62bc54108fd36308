/* Paging the client table by ID and writing its records as JSON. */
#include "clients_view.h"

#include <string.h>

#include <event2/buffer.h>

#include "util.h"


bool percent_decode(const char *s, size_t len, char *out, size_t size, size_t *out_len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return false;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (n == size)
			return false;
		out[n++] = c;
	}
	*out_len = n;
	return true;
}

/* Parses LIMIT's text: decimal digits only, 1..CLIENTS_LIMIT_MAX. */
static bool limit_parse(const char *s, size_t len, size_t *out)
{
	uint64_t value;

	if (len > 4 || !decimal_parse(s, len, &value) || value < 1 || value > CLIENTS_LIMIT_MAX)
		return false;
	*out = (size_t)value;
	return true;
}

/* True when the query parameter (KEY, KEY_LEN) is NAME. */
static bool key_is(const char *key, size_t key_len, const char *name)
{
	return key_len == strlen(name) && memcmp(key, name, key_len) == 0;
}

bool clients_query_parse(const char *query, struct clients_query *out, const char **why)
{
	bool have_limit = false, have_after = false;
	const char *p = query != NULL ? query : "";

	out->limit = CLIENTS_LIMIT_DEFAULT;
	out->after_len = 0;
	while (*p != '\0') {
		size_t part_len = strcspn(p, "&");
		const char *eq = memchr(p, '=', part_len);
		size_t key_len = eq != NULL ? (size_t)(eq - p) : part_len;
		const char *value = eq != NULL ? eq + 1 : p + part_len;
		size_t value_len = (size_t)(p + part_len - value);

		if (part_len == 0) {
			p++;
			continue;
		}
		if (key_is(p, key_len, "limit")) {
			/* Empty, as SPEC writes it (?limit=&after=): the default, as after= is. */
			if (have_limit || eq == NULL ||
			    (value_len > 0 && !limit_parse(value, value_len, &out->limit))) {
				*why = "limit must be given once, as an integer from 1 to 1000";
				return false;
			}
			have_limit = true;
		} else if (key_is(p, key_len, "after")) {
			if (have_after || !percent_decode(value, value_len, out->after,
			    sizeof(out->after), &out->after_len)) {
				*why = "after must be given once, as a percent-encoded client ID "
				    "of at most 255 bytes";
				return false;
			}
			have_after = true;
		} else {
			*why = "unknown query parameter: /clients takes limit and after";
			return false;
		}
		p += part_len;
		if (*p == '&')
			p++;
	}
	return true;
}

size_t clients_page(const struct table *t, const char *after, size_t after_len,
    const struct record **page, size_t limit, bool *more)
{
	const struct record *rec = after_len > 0 ? table_after(t, after, after_len) :
	    table_first(t);
	size_t n = 0;

	for (; rec != NULL && n < limit; rec = table_next_by_id(rec))
		page[n++] = rec;
	*more = rec != NULL;
	return n;
}

void clients_json_record(struct json_out *j, const struct record *record)
{
	struct at_record rec;
	const char *loc;
	size_t split;

	record_fields(record, &rec);
	loc = rec.location.p;
	split = rec.coord.split;
	json_map_open(j);
	json_bytes_member(j, "id", rec.id.p, rec.id.len);
	json_degree_member(j, "latitude", loc, split);
	json_degree_member(j, "longitude", loc + split, rec.location.len - split);
	json_key(j, "client_time");
	json_text(j, rec.time.p, rec.time.len);
	json_bytes_member(j, "server", rec.server.p, rec.server.len);
	json_key(j, "time_diff");
	json_text(j, rec.diff.p, rec.diff.len);
	json_bytes_member(j, "at", rec.line, rec.len);
	json_map_close(j);
}

bool admin_json_sink(void *evbuffer, const char *text, size_t len)
{
	return evbuffer_add(evbuffer, text, len) == 0;
}
