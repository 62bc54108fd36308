/* Link-state reports: the LSA line written, parsed and ordered. */
#include "lsa.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "util.h"

/* The line's fields: LSA, name, boot, seq, then key=value pairs (a few unknown ones too). */
#define LSA_FIELDS_MAX (4 + 4 + LSA_NCOUNTERS + 16)

static const char *const counter_keys[LSA_NCOUNTERS] = {
	[LSA_UPTIME] = "uptime",
	[LSA_CLIENTS] = "clients",
	[LSA_CONNECTIONS] = "connections",
	[LSA_IAMAT] = "iamat",
	[LSA_WHATSAT] = "whatsat",
	[LSA_INVALID] = "invalid",
	[LSA_ORIGINATED] = "originated",
	[LSA_RECEIVED] = "received",
	[LSA_FORWARDED] = "forwarded",
	[LSA_STALE] = "stale",
	[LSA_SYNC_SENT] = "sync_sent",
	[LSA_SYNC_RECEIVED] = "sync_received",
	[LSA_PLACES_REQUESTS] = "places_requests",
	[LSA_PLACES_ERRORS] = "places_errors",
	[LSA_PLACES_DONE] = "places_done",
	[LSA_PLACES_MS] = "places_ms",
};

static const char *const state_names[] = {
	[LSA_LINK_DOWN] = "down",
	[LSA_LINK_CONNECTING] = "connecting",
	[LSA_LINK_UP] = "up",
};

const char *lsa_counter_key(enum lsa_counter counter)
{
	return counter_keys[counter];
}

const char *lsa_link_state_name(enum lsa_link_state state)
{
	return state_names[state];
}

/* Appends what FMT writes to BUF at *LEN; false (and *LEN unchanged) when it does not fit. */
static bool append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len) {
		buf[*len] = '\0';
		return false;
	}
	*len += (size_t)n;
	return true;
}

size_t lsa_format(char *buf, size_t size, const struct lsa *a)
{
	/* Room kept for " omitted=" and a count, so leaving links out always fits. */
	const size_t reserve = 30;
	uint64_t omitted = a->links_omitted;
	size_t len = 0, i;

	if (size <= reserve || !append(buf, size - reserve, &len, "LSA %s %llu %llu version=%s",
	    a->origin, (unsigned long long)a->boot, (unsigned long long)a->seq, a->version))
		return 0;
	for (i = 0; i < LSA_NCOUNTERS; i++)
		if (!append(buf, size - reserve, &len, " %s=%llu", counter_keys[i],
		    (unsigned long long)a->counters[i]))
			return 0;
	if (!append(buf, size - reserve, &len, " links="))
		return 0;
	for (i = 0; i < a->nlinks; i++) {
		if (!append(buf, size - reserve, &len, "%s%s:%s", i > 0 ? "," : "",
		    a->links[i].peer, state_names[a->links[i].state]))
			break;
	}
	omitted += a->nlinks - i;
	if (omitted > 0)
		append(buf, size, &len, " omitted=%llu", (unsigned long long)omitted);
	return len;
}

/*
 * True when (P, LEN) is 1 to MAX - 1 letters, digits, '_', '.', '-' or characters of
 * EXTRA: a node name (what config.c allows) or a version, shown as they are.
 */
static bool token_valid(const char *p, size_t len, size_t max, const char *extra)
{
	if (len == 0 || len >= max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
		    c == '_' || c == '.' || c == '-' || (c != '\0' && strchr(extra, c) != NULL)))
			return false;
	}
	return true;
}

static bool name_valid(const char *p, size_t len)
{
	return token_valid(p, len, CONFIG_NAME_MAX, "");
}

static void copy_name(char *dst, const char *p, size_t len)
{
	memcpy(dst, p, len);
	dst[len] = '\0';
}

/* The value of links=: NAME:STATE entries, comma-separated, no name twice. */
static bool parse_links(const char *p, size_t len, struct lsa *out, const char **why)
{
	size_t at = 0;

	while (at < len) {
		const char *entry = p + at, *comma = memchr(entry, ',', len - at);
		size_t n = comma != NULL ? (size_t)(comma - entry) : len - at;
		const char *colon = memchr(entry, ':', n);
		size_t name_len = colon != NULL ? (size_t)(colon - entry) : 0;
		struct field state;
		size_t s;

		if (colon == NULL || !name_valid(entry, name_len)) {
			*why = "a link is not NAME:STATE with a node name";
			return false;
		}
		state.p = colon + 1;
		state.len = n - name_len - 1;
		for (s = 0; s < sizeof(state_names) / sizeof(state_names[0]); s++)
			if (proto_field_is(&state, state_names[s]))
				break;
		if (s == sizeof(state_names) / sizeof(state_names[0])) {
			*why = "a link state is not up, connecting or down";
			return false;
		}
		for (size_t i = 0; i < out->nlinks; i++) {
			if (strlen(out->links[i].peer) == name_len &&
			    memcmp(out->links[i].peer, entry, name_len) == 0) {
				*why = "a link is named twice";
				return false;
			}
		}
		if (out->nlinks == LSA_LINKS_MAX) {
			out->links_omitted++;
		} else {
			copy_name(out->links[out->nlinks].peer, entry, name_len);
			out->links[out->nlinks].state = (enum lsa_link_state)s;
			out->nlinks++;
		}
		at += n + 1;
		if (comma != NULL && at == len) {
			*why = "links= ends with a comma";
			return false;
		}
	}
	return true;
}

/* One key=value field; SEEN marks the known keys met so far (bits by counter, then more). */
static bool parse_pair(const struct field *f, struct lsa *out, uint32_t *seen, const char **why)
{
	const char *eq = memchr(f->p, '=', f->len);
	struct field key, value;
	uint32_t bit;

	if (eq == NULL || eq == f->p) {
		*why = "a field is not KEY=VALUE";
		return false;
	}
	key.p = f->p;
	key.len = (size_t)(eq - f->p);
	value.p = eq + 1;
	value.len = f->len - key.len - 1;
	for (size_t i = 0; i < LSA_NCOUNTERS; i++) {
		if (!proto_field_is(&key, counter_keys[i]))
			continue;
		bit = 1u << i;
		if (*seen & bit || !decimal_parse(value.p, value.len, &out->counters[i])) {
			*why = (*seen & bit) ? "a key is given twice" : "a counter is not a decimal";
			return false;
		}
		*seen |= bit;
		return true;
	}
	if (proto_field_is(&key, "version")) {
		bit = 1u << LSA_NCOUNTERS;
		if (*seen & bit || !token_valid(value.p, value.len, LSA_VERSION_MAX, "+~")) {
			*why = (*seen & bit) ? "a key is given twice" : "the version is not a version";
			return false;
		}
		copy_name(out->version, value.p, value.len);
	} else if (proto_field_is(&key, "links")) {
		bit = 1u << (LSA_NCOUNTERS + 1);
		if (*seen & bit) {
			*why = "a key is given twice";
			return false;
		}
		if (!parse_links(value.p, value.len, out, why))
			return false;
	} else if (proto_field_is(&key, "age")) {
		bit = 1u << (LSA_NCOUNTERS + 3);
		if (*seen & bit || !decimal_parse(value.p, value.len, &out->age_ms)) {
			*why = (*seen & bit) ? "a key is given twice" : "age= is not a decimal";
			return false;
		}
	} else if (proto_field_is(&key, "omitted")) {
		uint64_t n;

		bit = 1u << (LSA_NCOUNTERS + 2);
		if (*seen & bit || !decimal_parse(value.p, value.len, &n) || n > LSA_OMITTED_MAX) {
			*why = (*seen & bit) ? "a key is given twice" :
			    "omitted= is not a decimal up to 1000000000";
			return false;
		}
		out->links_omitted += n;
	} else {
		return true;    /* a newer node's key */
	}
	*seen |= bit;
	return true;
}

bool lsa_parse(const char *line, size_t len, struct lsa *out, const char **why)
{
	struct field fields[LSA_FIELDS_MAX];
	size_t n = proto_split(line, len, fields, LSA_FIELDS_MAX);
	uint32_t seen = 0;

	memset(out, 0, sizeof(*out));
	if (n < 4 || !proto_field_is(&fields[0], "LSA")) {
		*why = "not LSA NAME BOOT SEQ ...";
		return false;
	}
	if (n > LSA_FIELDS_MAX) {
		*why = "too many fields";
		return false;
	}
	if (!name_valid(fields[1].p, fields[1].len)) {
		*why = "the origin is not a node name";
		return false;
	}
	copy_name(out->origin, fields[1].p, fields[1].len);
	if (!decimal_parse(fields[2].p, fields[2].len, &out->boot) ||
	    !decimal_parse(fields[3].p, fields[3].len, &out->seq)) {
		*why = "BOOT and SEQ are not decimals";
		return false;
	}
	if (out->seq > LSA_SEQ_MAX) {
		*why = "SEQ is over 10^18";
		return false;
	}
	for (size_t i = 4; i < n; i++)
		if (!parse_pair(&fields[i], out, &seen, why))
			return false;
	if (!(seen & (1u << LSA_NCOUNTERS)) || !(seen & (1u << (LSA_NCOUNTERS + 1)))) {
		*why = "version= or links= is missing";
		return false;
	}
	return true;
}

bool lsa_newer(uint64_t boot, uint64_t seq, uint64_t than_boot, uint64_t than_seq)
{
	return boot != than_boot ? boot > than_boot : seq > than_seq;
}

size_t lsa_with_age(const char *line, size_t len, uint64_t age_ms, char *buf, size_t size)
{
	struct field fields[LSA_FIELDS_MAX];
	size_t nfields = proto_split(line, len, fields, LSA_FIELDS_MAX), kept = 0, out = 0;
	int n;

	if (nfields > LSA_FIELDS_MAX)
		return 0;
	/* Every field but age=, joined by single spaces (lsa_parse splits on any). */
	for (size_t i = 0; i < nfields; i++) {
		const struct field *f = &fields[i];

		if (f->len >= 4 && memcmp(f->p, "age=", 4) == 0)
			continue;
		if (out + (out > 0) + f->len >= size)
			return 0;
		if (out > 0)
			buf[out++] = ' ';
		memcpy(buf + out, f->p, f->len);
		out += f->len;
		kept++;
	}
	if (age_ms == 0) {
		buf[out] = '\0';
		return out;
	}
	if (kept == LSA_FIELDS_MAX)
		return 0;
	n = snprintf(buf + out, size - out, " age=%llu", (unsigned long long)age_ms);
	if (n < 0 || (size_t)n >= size - out)
		return 0;
	return out + (size_t)n;
}
