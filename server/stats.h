/*
 * Counters the server keeps and the admin endpoint reads. Plain integers: the node is
 * single-threaded, so no atomics are needed.
 */
#ifndef HERD_STATS_H
#define HERD_STATS_H

#include <stdint.h>

/* Upper bounds (seconds) of the Places latency histogram; +Inf is implied. */
#define STATS_LATENCY_BUCKETS 10
extern const double stats_latency_bounds[STATS_LATENCY_BUCKETS];

struct herd_stats {
	uint64_t clients_current;
	uint64_t clients_total;

	uint64_t cmd_iamat;
	uint64_t cmd_whatsat;
	uint64_t cmd_invalid;

	uint64_t flood_originated;
	uint64_t flood_received;
	uint64_t flood_forwarded;
	uint64_t flood_stale_dropped;
	uint64_t sync_records_sent;
	uint64_t sync_records_received;
	uint64_t flood_coalesced;       /* a record already waiting for a busy link changed again */
	uint64_t sync_full;             /* link-ups that sent the whole table (the other end was empty) */
	uint64_t sync_walk;             /* digest walks finished */
	uint64_t sync_equal;            /* link-ups whose digests matched: nothing to send */
	uint64_t sync_bytes_sent;       /* bytes of every sync and walk line sent */
	uint64_t sync_digest;           /* the table digest's root, low 48 bits (a gauge) */

	uint64_t linkstate_sent;        /* reports of this node sent (one per fan-out) */
	uint64_t linkstate_stored;      /* reports of others that were newer */
	uint64_t linkstate_stale;       /* reports no newer than held, or this node's own */
	uint64_t linkstate_refused;     /* malformed, of a node not in the herd, boot ahead */
	uint64_t linkstate_own_newer;   /* reports of this node newer than its own (answered) */

	uint64_t clients_refused;       /* new client IDs refused: the table held max_clients */
	uint64_t places_refused;        /* WHATSATs refused: places_max_requests in flight */
	uint64_t peer_records_refused;  /* malformed, unknown node, or too far in the future */
	uint64_t accept_pauses;         /* a listener stopped: accept failed, or at its cap */
	uint64_t clients_timed_out;     /* connections closed by a line, idle or write deadline */
	uint64_t admin_timeouts;        /* admin connections closed by admin_timeout */
	uint64_t peer_handshakes_evicted;  /* inbound handshakes closed to make room */
	uint64_t log_lines_dropped;     /* the log file could not take them (a full disk) */

	uint64_t places_requests;       /* upstream calls made */
	uint64_t places_errors;         /* upstream calls that ended in UNKNOWN_ERROR */
	uint64_t places_coalesced;      /* WHATSATs served by a call already in flight */
	uint64_t places_abandoned;      /* calls sent, then dropped: nobody waited any more */
	uint64_t places_connections;    /* connections to Places open now (a gauge) */
	uint64_t places_connections_opened;
	uint64_t places_requests_reused;    /* calls sent on a kept-alive connection */
	uint64_t places_handshakes_full;    /* TLS handshakes that verified the chain */
	uint64_t places_handshakes_resumed; /* TLS handshakes that resumed a session */
	uint64_t places_retries;        /* calls sent again after a reused connection failed */
	uint64_t places_connect_failovers;  /* fresh connections that went to the next address */
	uint64_t places_latency_count;
	double places_latency_sum;      /* seconds */
	uint64_t places_latency_buckets[STATS_LATENCY_BUCKETS];   /* cumulative per bound */

	/* state_dir (state.c): gauges and counters of the journal and snapshot */
	uint64_t state_enabled;
	uint64_t state_journal_records;   /* records in the journals since the snapshot */
	uint64_t state_journal_bytes;
	uint64_t state_unsynced_records;  /* written, not yet covered by an fsync */
	uint64_t state_snapshot_records;
	uint64_t state_snapshot_bytes;
	uint64_t state_snapshot_age_seconds;
	uint64_t state_last_fsync_age_ms; /* 0 before the first */
	uint64_t state_fsyncs;
	uint64_t state_fsync_errors;
	uint64_t state_write_errors;
	uint64_t state_records_dropped; /* let go unwritten; a snapshot covered them */
	uint64_t state_compactions;
	uint64_t state_compaction_failures;
	uint64_t state_load_ms;
	uint64_t state_loaded_records;
	uint64_t state_damaged_lines;     /* skipped at start: torn, or failed their sum */
};

extern struct herd_stats stats;

/* Records one finished upstream call that took SECONDS. */
void stats_places_latency(double seconds);

#endif
