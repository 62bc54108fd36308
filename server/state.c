/*
 * The journal and snapshot of state_dir (README "Durability"). For node NAME:
 *
 *   NAME.lock          held (flock) while a herdd of NAME uses the folder
 *   NAME.snapshot      the table as of generation S (written whole, then renamed)
 *   NAME.journal.G     records stored since generation G began, G >= S
 *
 * Records of a pass are appended in one write at its end (state_write, before the
 * replies go out), so a crash of the process loses nothing acknowledged. A helper
 * thread fsyncs the journal (as redis's bio does for its AOF), every
 * state_fsync_interval ms or state_fsync_batch records, so a crash of the machine loses
 * at most that window. When the journal outgrows the table, a new generation starts:
 * a new journal takes the appends, and a child process (fork: the table as it was at
 * that moment) writes the snapshot, renames it into place, fsyncs the folder and
 * removes the older journals. The table keeps only the newest record of each client and
 * any order of offers gives the same table, so loading a record twice is harmless.
 */
#define _GNU_SOURCE    /* close_range, pipe2 */

#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "config.h"
#include "herdd.h"
#include "log.h"
#include "ratelimit.h"
#include "stats.h"
#include "statefmt.h"
#include "table.h"
#include "xmalloc.h"

/* Journals retired by a new generation, waiting for the syncer's last fsync. */
#define STATE_RETIRE_MAX 8
/* Damaged lines reported one by one per file; the rest are counted. */
#define STATE_DAMAGE_REPORTS 20
/* A failed snapshot is tried again after this long. */
#define STATE_COMPACT_BACKOFF_MS 10000
/* A failed journal write is tried again after this long; replies wait meanwhile. */
#define STATE_RETRY_MS 100
/*
 * What waits for a journal that cannot be written (a full disk while neighbours flood)
 * is kept up to this much; past it, it is let go and a snapshot of the table, which
 * holds all of it, must be made before replies go out again.
 */
#define STATE_BUF_MAX (8u << 20)
/* A snapshot that must cover appends let go is tried again this often. */
#define STATE_LOST_RETRY_MS 1000
/* How long start-up waits for the lock (a dying snapshot child may still hold it). */
#define STATE_LOCK_WAIT_MS 3000
/* How much less CPU the fsync thread and the snapshot child ask for than the loop. */
#define STATE_SYNCER_NICE 10
/* The snapshot child's output buffer. */
#define STATE_CHILD_BUF (1024 * 1024)

/* The fsync helper thread: the loop asks, it syncs; everything under MU. */
struct state_syncer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;                        /* the journal being appended to */
	bool sync_dir;                 /* a journal was created: fsync the folder too */
	uint64_t want;                 /* records written when the loop last asked */
	uint64_t done;                 /* records covered by the last completed fsync */
	uint64_t failed;               /* WANT of the last fsync that failed */
	int retire[STATE_RETIRE_MAX];  /* old journals: one last fsync, then close */
	size_t nretire;
	bool stop;
	uint64_t last_ms;              /* htime_mono_ms of the last completed fsync; 0: none */
	uint64_t fsyncs;
	uint64_t errors;
	int last_errno;
	uint64_t errors_logged;
};

static struct {
	bool enabled;
	char *dir;
	int dirfd;
	int lockfd;
	char herd[STATEFMT_HERD_ID_MAX];
	const char *name;

	int fd;                        /* the journal appended to */
	uint64_t gen;                  /* its generation */
	char *buf;                     /* this pass's lines */
	size_t len, cap;
	size_t buf_records;
	uint64_t written;              /* records written to journals, ever */
	uint64_t kicked;               /* WRITTEN when the syncer was last asked */
	struct event *flush_event;     /* the pass's write, after the callbacks that stored */
	void (*on_written)(void);      /* the records so far are written: replies may go */
	bool closing;
	struct event *fsync_timer;
	struct event *retry_timer;
	struct ratelimit write_warnings;

	pid_t child;                   /* the snapshot child; 0: none */
	int child_fd;                  /* its report */
	struct event *child_event;
	char child_msg[256];
	size_t child_msg_len;
	uint64_t child_gen;
	uint64_t child_journal_records; /* records of the journals the snapshot replaces */
	uint64_t child_journal_bytes;
	uint64_t compact_after_ms;     /* backoff after a failure */
	bool compact_soon;             /* damage was found at start: rewrite the files */
	bool lost;                     /* appends were let go unwritten (STATE_BUF_MAX) */
	uint64_t lost_gen;             /* the generation then: a snapshot after it covers them */
	int64_t snapshot_time;         /* wall-clock seconds the snapshot was made; 0: none */

	struct state_syncer sync;
} state = { .dirfd = -1, .lockfd = -1, .fd = -1, .child_fd = -1 };

/* NAME.journal.G into BUF. */
static void state_journal_name(char *buf, size_t size, uint64_t gen)
{
	snprintf(buf, size, "%s.journal.%" PRIu64, state.name, gen);
}

/* STATE.DIR, quoted for a log field. */
static const char *state_dir_q(void)
{
	return log_quote(state.dir, strlen(state.dir));
}

/* The path of FILE in state_dir, quoted for a log field. */
static const char *state_file_q(const char *file)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", state.dir, file);

	return log_quote(path, n < 0 ? 0 : (size_t)n < sizeof(path) ? (size_t)n :
	    sizeof(path) - 1);
}

/* The path of journal GEN, quoted for a log field. */
static const char *state_journal_q(uint64_t gen)
{
	char file[NAME_MAX + 1];

	state_journal_name(file, sizeof(file), gen);
	return state_file_q(file);
}

/* Stops the node at start-up over FILE (in state_dir; NULL: the folder itself). */
static void __attribute__((noreturn, format(printf, 2, 3)))
state_refuse(const char *file, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file != NULL)
		fatalx("event=startup_failed file=%s error=%s", state_file_q(file),
		    log_quote(msg, strlen(msg)));
	fatalx("event=startup_failed state_dir=%s error=%s", state_dir_q(), log_quote(msg,
	    strlen(msg)));
}

/* --- the fsync helper ------------------------------------------------------------- */

static void *state_syncer_main(void *arg)
{
	struct state_syncer *s = arg;
	int retire[STATE_RETIRE_MAX];

	/* Background work: the loop and whatever else serves come first for the CPU. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), STATE_SYNCER_NICE);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		size_t nretire;
		bool dir;
		int fd, err = 0;
		uint64_t want;

		while (!s->stop && (s->want == s->done || s->want == s->failed) && s->nretire == 0)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop && (s->want == s->done || s->want == s->failed) && s->nretire == 0)
			break;
		fd = s->fd;
		want = s->want;
		dir = s->sync_dir;
		s->sync_dir = false;
		nretire = s->nretire;
		memcpy(retire, s->retire, nretire * sizeof(retire[0]));
		s->nretire = 0;
		pthread_mutex_unlock(&s->mu);

		/* The older journals first: their records came before the current one's. */
		for (size_t i = 0; i < nretire; i++) {
			if (fdatasync(retire[i]) < 0)
				err = errno;
			close(retire[i]);
		}
		if (dir && fsync(state.dirfd) < 0)
			err = errno;
		if (fd >= 0 && fdatasync(fd) < 0)
			err = errno;

		pthread_mutex_lock(&s->mu);
		s->fsyncs++;
		if (err == 0) {
			s->done = want;
			s->last_ms = htime_mono_ms();
		} else {
			/* Not covered: tried again with the next write; the loop rewrites the
			 * records from memory (a snapshot), as pages that failed may be gone. */
			s->errors++;
			s->last_errno = err;
			s->failed = want;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Asks the syncer to make every record written so far durable. */
static void state_kick(void)
{
	struct state_syncer *s = &state.sync;

	uint64_t errors;
	int err;

	pthread_mutex_lock(&s->mu);
	s->fd = state.fd;
	s->want = state.written;
	pthread_cond_signal(&s->cv);
	errors = s->errors;
	err = s->last_errno;
	pthread_mutex_unlock(&s->mu);
	state.kicked = state.written;
	if (errors > s->errors_logged) {
		log_warnx("event=state_fsync_failed file=%s failures=%" PRIu64
		    " error=\"%s\" note=\"a crash of the machine may lose records\"",
		    state_journal_q(state.gen), errors - s->errors_logged, strerror(err));
		s->errors_logged = errors;
		state.compact_soon = true;
	}
}

static void state_fsync_cb(evutil_socket_t fd, short what, void *arg)
{
	if (state.written > state.kicked)
		state_kick();
}

static bool state_write(void);

/* The end of a pass, and each retry after a failed write. */
static void state_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	if (state_write())
		state.on_written();
}

/* --- loading ---------------------------------------------------------------------- */

struct state_load {
	const char *file;
	uint64_t records;              /* record lines that passed their sum */
	uint64_t damaged;
	uint64_t unknown_node;         /* written by a node no longer configured */
	uint64_t refused;              /* new clients past max_clients */
	uint64_t too_long;             /* longer than max_line allows now */
	bool has_end;
	uint64_t end_records;
};

/* Reports a line of L skipped at OFFSET for WHY. */
static void state_damage(struct state_load *l, size_t offset, const char *why)
{
	if (l->damaged++ < STATE_DAMAGE_REPORTS)
		log_warnx("event=state_line_skipped file=%s offset=%zu reason=\"%s\"",
		    state_file_q(l->file), offset, why);
}

/* Offers the AT line of a record line at OFFSET to the table. */
static void state_load_record(struct state_load *l, const struct field *payload,
    size_t offset)
{
	struct at_record rec;
	const struct record *stored;

	if (!proto_at_parse(payload->p, payload->len, &rec)) {
		state_damage(l, offset, "sum matches, but not an AT line");
		return;
	}
	l->records++;
	/* As flood_receive: longer than peers take now (max_line was lowered). */
	if (payload->len > herdd.config->max_line + CONFIG_PEER_LINE_EXTRA -
	    CONFIG_PEER_SYNC_PREFIX) {
		l->too_long++;
		return;
	}
	if (config_find_node_len(herdd.config, rec.server.p, rec.server.len) == NULL) {
		l->unknown_node++;
		return;
	}
	if (table_offer(herdd.table, &rec, &stored) == TABLE_FULL)
		l->refused++;
}

/* Checks that header H of FILE is this node's, of KIND; stops the node otherwise. */
static void state_check_header(const char *file, const struct statefmt_header *h,
    enum statefmt_kind kind)
{
	if (strcmp(h->herd, state.herd) != 0)
		state_refuse(file, "it belongs to herd %s, and this node is of herd %s (%s): "
		    "another herd's state is never loaded. Point state_dir elsewhere, or, if "
		    "this herd's %s changed, set herd_id = %s", h->herd, state.herd,
		    herdd.config->herd_id != NULL ? "herd_id" : "derived from the herd "
		    "secret, or from the node names without one",
		    herdd.config->herd_id != NULL ? "herd_id" : "secret or nodes", h->herd);
	if (strcmp(h->node, state.name) != 0)
		state_refuse(file, "it belongs to node %s, not %s", h->node, state.name);
	if (h->kind != kind)
		state_refuse(file, "it is a %s, not a %s", h->kind == STATEFMT_SNAPSHOT ?
		    "snapshot" : "journal", kind == STATEFMT_SNAPSHOT ? "snapshot" : "journal");
}

/*
 * Loads FILE (in state_dir) of KIND into the table; its generation into *GEN. False
 * when it is empty or its header was cut short (a crash as it was made): nothing in it.
 */
static bool state_load_file(const char *file, enum statefmt_kind kind, uint64_t *gen,
    struct state_load *l)
{
	struct statefmt_header h;
	struct field payload;
	struct stat st;
	const char *data, *end, *p;
	uint64_t records;
	int fd = openat(state.dirfd, file, O_RDONLY | O_CLOEXEC);

	memset(l, 0, sizeof(*l));
	l->file = file;
	if (fd < 0 || fstat(fd, &st) < 0)
		state_refuse(file, "cannot read it: %s", strerror(errno));
	if (st.st_size == 0) {
		close(fd);
		log_warnx("event=state_file_empty file=%s", state_file_q(file));
		return false;
	}
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	/* A killed node's last writes may be in the page cache only: make them durable. */
	if (kind == STATEFMT_JOURNAL && fdatasync(fd) < 0)
		state_refuse(file, "cannot fsync it: %s", strerror(errno));
	close(fd);
	if (data == MAP_FAILED)
		state_refuse(file, "cannot map it: %s", strerror(errno));
	(void)madvise((void *)data, (size_t)st.st_size, MADV_SEQUENTIAL);
	end = data + st.st_size;

	p = memchr(data, '\n', (size_t)st.st_size);
	if (p == NULL) {
		munmap((void *)data, (size_t)st.st_size);
		log_warnx("event=state_line_skipped file=%s offset=0 reason=\"the header is "
		    "cut short: the file was being made\"", state_file_q(file));
		return false;
	}
	if (statefmt_parse(data, (size_t)(p - data), &payload, &h, &records) !=
	    STATEFMT_HEADER)
		state_refuse(file, "its first line is not a herd state header (damaged, or not "
		    "a state file); move it away to start without it");
	state_check_header(file, &h, kind);
	*gen = h.gen;

	for (p++; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t offset = (size_t)(p - data);

		if (eol == NULL) {
			state_damage(l, offset, "the last line is cut short (no line end)");
			break;
		}
		switch (statefmt_parse(p, (size_t)(eol - p), &payload, &h, &records)) {
		case STATEFMT_RECORD:
			if (l->has_end)
				state_damage(l, offset, "a record after the END line");
			else
				state_load_record(l, &payload, offset);
			break;
		case STATEFMT_END:
			if (kind != STATEFMT_SNAPSHOT || l->has_end)
				state_damage(l, offset, "an END line where none belongs");
			l->has_end = true;
			l->end_records = records;
			break;
		case STATEFMT_BAD_SUM:
			state_damage(l, offset, "checksum mismatch");
			break;
		case STATEFMT_HEADER:
		case STATEFMT_MALFORMED:
			state_damage(l, offset, "not a record line");
			break;
		}
		p = eol + 1;
	}
	munmap((void *)data, (size_t)st.st_size);
	if (kind == STATEFMT_SNAPSHOT && !l->has_end)
		log_warnx("event=state_snapshot_incomplete file=%s records=%" PRIu64
		    " note=\"no END line: loaded what is there\"", state_file_q(file), l->records);
	else if (kind == STATEFMT_SNAPSHOT && l->end_records != l->records + l->damaged)
		log_warnx("event=state_snapshot_incomplete file=%s records=%" PRIu64
		    " expected=%" PRIu64, state_file_q(file), l->records, l->end_records);
	if (l->damaged > 0)
		log_warnx("event=state_damage file=%s lines_skipped=%" PRIu64, state_file_q(file),
		    l->damaged);
	if (l->unknown_node > 0)
		log_info("event=state_records_dropped file=%s records=%" PRIu64 " reason=\"written "
		    "by nodes no longer in the configuration\"", state_file_q(file), l->unknown_node);
	if (l->too_long > 0)
		log_warnx("event=state_records_dropped file=%s records=%" PRIu64 " reason=\"longer "
		    "than max_line allows\"", state_file_q(file), l->too_long);
	if (l->refused > 0)
		log_warnx("event=state_records_dropped file=%s records=%" PRIu64 " reason=\"new "
		    "clients past max_clients\"", state_file_q(file), l->refused);
	stats.state_damaged_lines += l->damaged;
	if (l->damaged > 0)
		state.compact_soon = true;
	return true;
}

static int state_gen_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The generations of this node's journals, sorted, into *GENS; returns how many. */
static size_t state_list_journals(uint64_t **gens)
{
	char prefix[CONFIG_NAME_MAX + 16];
	size_t plen, n = 0, cap = 0;
	struct dirent *de;
	int fd = dup(state.dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL)
		state_refuse(NULL, "cannot list it: %s", strerror(errno));
	/* The copy shares the descriptor's offset, which an earlier listing left at the end. */
	rewinddir(d);
	snprintf(prefix, sizeof(prefix), "%s.journal.", state.name);
	plen = strlen(prefix);
	*gens = NULL;
	while ((de = readdir(d)) != NULL) {
		uint64_t v;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		if (!statefmt_number(de->d_name + plen, &v)) {
			log_warnx("event=state_file_ignored file=%s reason=\"not a journal name "
			    "this node writes\"", state_file_q(de->d_name));
			continue;
		}
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			*gens = xreallocarray(*gens, cap, sizeof(**gens));
		}
		(*gens)[n++] = v;
	}
	closedir(d);
	if (n > 0)
		qsort(*gens, n, sizeof(**gens), state_gen_cmp);
	return n;
}

/*
 * Removes this node's journals older than GEN, a snapshot of GEN holding their records
 * (the snapshot child: no allocation but the DIR, and errors are left alone).
 */
static void state_remove_journals_before(uint64_t gen)
{
	char prefix[CONFIG_NAME_MAX + 16];
	size_t plen;
	struct dirent *de;
	uint64_t g;
	int fd = dup(state.dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL)
		return;
	rewinddir(d);
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.journal.", state.name);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) == 0 &&
		    statefmt_number(de->d_name + plen, &g) && g < gen)
			(void)unlinkat(state.dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* Writes LEN bytes at P to FD whole; false with errno on failure. */
static bool state_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Creates the journal of GEN with its header; its descriptor, or -1 with errno. */
static int state_journal_create(uint64_t gen)
{
	struct statefmt_header h = { .kind = STATEFMT_JOURNAL, .gen = gen };
	char file[CONFIG_NAME_MAX + 40], line[STATEFMT_META_MAX];
	size_t len;
	int fd, saved;

	snprintf(h.herd, sizeof(h.herd), "%s", state.herd);
	snprintf(h.node, sizeof(h.node), "%s", state.name);
	state_journal_name(file, sizeof(file), gen);
	fd = openat(state.dirfd, file, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	len = statefmt_header_line(line, &h);
	if (!state_write_all(fd, line, len)) {
		saved = errno;
		close(fd);
		(void)unlinkat(state.dirfd, file, 0);
		errno = saved;
		return -1;
	}
	stats.state_journal_bytes += len;
	return fd;
}

/* Opens (creating it) and locks state_dir; stops the node when it cannot. */
static void state_lock(void)
{
	char file[CONFIG_NAME_MAX + 8], pid[32];
	uint64_t deadline = htime_mono_ms() + STATE_LOCK_WAIT_MS;
	ssize_t n;

	if (mkdir(state.dir, 0700) < 0 && errno != EEXIST)
		state_refuse(NULL, "cannot create it: %s", strerror(errno));
	state.dirfd = open(state.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (state.dirfd < 0)
		state_refuse(NULL, "cannot open it as a folder: %s", strerror(errno));
	snprintf(file, sizeof(file), "%s.lock", state.name);
	state.lockfd = openat(state.dirfd, file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (state.lockfd < 0)
		state_refuse(file, "cannot create it (is state_dir writable by this user?): %s",
		    strerror(errno));
	while (flock(state.lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			state_refuse(file, "cannot lock it: %s", strerror(errno));
		if (htime_mono_ms() > deadline) {
			n = pread(state.lockfd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			state_refuse(file, "another herdd of node %s uses this state_dir (pid %s)",
			    state.name, pid[0] != '\0' ? pid : "unknown");
		}
		usleep(50 * 1000);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(state.lockfd, 0) < 0 || pwrite(state.lockfd, pid, (size_t)n, 0) != n)
		state_refuse(file, "cannot write it: %s", strerror(errno));
}

void state_open(const unsigned char *secret, size_t secret_len, void (*written)(void))
{
	char file[CONFIG_NAME_MAX + 40];
	struct state_load l;
	struct stat st;
	uint64_t started = htime_mono_ms(), snap_gen = 0, gen, top, loaded = 0;
	uint64_t *gens;
	size_t n;
	sigset_t all, old;

	if (herdd.config->state_dir == NULL)
		return;
	state.enabled = true;
	state.on_written = written;
	state.dir = herdd.config->state_dir;
	state.name = herdd.self->name;
	statefmt_herd_id(herdd.config, secret, secret_len, state.herd);
	state_lock();

	snprintf(file, sizeof(file), "%s.snapshot.tmp", state.name);
	(void)unlinkat(state.dirfd, file, 0);
	snprintf(file, sizeof(file), "%s.snapshot", state.name);
	if (fstatat(state.dirfd, file, &st, 0) == 0) {
		if (state_load_file(file, STATEFMT_SNAPSHOT, &snap_gen, &l)) {
			stats.state_snapshot_records = l.records;
			stats.state_snapshot_bytes = (uint64_t)st.st_size;
			state.snapshot_time = st.st_mtime;
			loaded += l.records;
		}
	} else if (errno != ENOENT) {
		state_refuse(file, "cannot read it: %s", strerror(errno));
	}

	top = snap_gen;
	n = state_list_journals(&gens);
	for (size_t i = 0; i < n; i++) {
		state_journal_name(file, sizeof(file), gens[i]);
		if (gens[i] < snap_gen) {
			/* Left by a crash between a snapshot's rename and the clean-up. */
			(void)unlinkat(state.dirfd, file, 0);
			continue;
		}
		if (fstatat(state.dirfd, file, &st, 0) < 0)
			continue;
		top = gens[i];
		if (state_load_file(file, STATEFMT_JOURNAL, &gen, &l)) {
			if (gen != gens[i])
				state_refuse(file, "its header says generation %" PRIu64 "; was it "
				    "renamed?", gen);
			/* A header and nothing else (a start and a stop with no record, which
			 * writes no snapshot): it would stay for good, one more each time. */
			if (l.records == 0 && l.damaged == 0 &&
			    unlinkat(state.dirfd, file, 0) == 0)
				continue;
			stats.state_journal_records += l.records;
			loaded += l.records;
		}
		stats.state_journal_bytes += (uint64_t)st.st_size;
	}
	free(gens);

	state.gen = top + 1;
	state.fd = state_journal_create(state.gen);
	if (state.fd < 0) {
		state_journal_name(file, sizeof(file), state.gen);
		state_refuse(file, "cannot create it: %s", strerror(errno));
	}
	if (fsync(state.dirfd) < 0)
		state_refuse(NULL, "cannot fsync it: %s", strerror(errno));

	stats.state_enabled = 1;
	stats.state_load_ms = htime_mono_ms() - started;
	stats.state_loaded_records = loaded;
	log_info("event=state_loaded state_dir=%s herd=%s records=%" PRIu64 " clients=%zu "
	    "damaged_lines=%" PRIu64 " load_ms=%" PRIu64 " journal=%s.journal.%" PRIu64,
	    state_dir_q(), state.herd, loaded, table_count(herdd.table), stats.state_damaged_lines,
	    stats.state_load_ms, state.name, state.gen);

	state.cap = 64 * 1024;
	state.buf = xmalloc(state.cap);
	state.sync.fd = state.fd;
	/* The thread takes no signal: libevent's handlers are the loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_mutex_init(&state.sync.mu, NULL) != 0 ||
	    pthread_cond_init(&state.sync.cv, NULL) != 0 ||
	    pthread_create(&state.sync.thread, NULL, state_syncer_main, &state.sync) != 0)
		fatalx("event=startup_failed error=\"cannot start the fsync thread\"");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	state.fsync_timer = xcheck(evtimer_new(herdd.base, state_fsync_cb, NULL));
	state.flush_event = xcheck(event_new(herdd.base, -1, 0, state_flush_cb, NULL));
	state.retry_timer = xcheck(evtimer_new(herdd.base, state_flush_cb, NULL));
}

/* --- appending -------------------------------------------------------------------- */

/* How long a failed snapshot waits to be tried again: soon when replies wait for it. */
static int state_compact_backoff_ms(void)
{
	return state.lost ? STATE_LOST_RETRY_MS : STATE_COMPACT_BACKOFF_MS;
}

/* What waits for the journal goes unwritten: the table holds it, a snapshot will too. */
static void state_drop_pending(void)
{
	stats.state_records_dropped += state.buf_records;
	state.len = 0;
	state.buf_records = 0;
}

void state_append(const struct record *rec)
{
	size_t need;

	if (!state.enabled)
		return;
	/*
	 * The first record of a pass queues the write behind every callback the loop has
	 * already made active (those of this pass), so one write takes them all.
	 */
	if (state.len == 0)
		event_active(state.flush_event, EV_TIMEOUT, 1);
	need = statefmt_line_size(record_len(rec));
	if (state.cap - state.len < need) {
		while (state.cap - state.len < need)
			state.cap *= 2;
		state.buf = xreallocarray(state.buf, state.cap, 1);
	}
	statefmt_line(state.buf + state.len, record_line(rec), record_len(rec));
	state.len += need;
	state.buf_records++;
	/* The journal cannot take them and they keep coming: the table has them all. */
	if (state.len > STATE_BUF_MAX && evtimer_pending(state.retry_timer, NULL)) {
		if (!state.lost)
			log_warnx("event=state_appends_dropped state_dir=%s bytes=%zu records=%zu "
			    "note=\"the journal cannot be written: a snapshot of the table must "
			    "cover them; replies wait for it\"", state_dir_q(), state.len,
			    state.buf_records);
		state_drop_pending();
		state.lost = true;
		state.lost_gen = state.gen;
		if (state.compact_after_ms > htime_mono_ms() + STATE_LOST_RETRY_MS)
			state.compact_after_ms = htime_mono_ms() + STATE_LOST_RETRY_MS;
	}
}

bool state_pending(void)
{
	return state.len > 0 || state.lost;
}

static void state_compact(void);

/*
 * Writes the pass's records in one write. Returns false when that failed (kept, and
 * tried again soon), or when appends were let go and a snapshot must cover them first:
 * replies must keep waiting.
 */
static bool state_write(void)
{
	struct timeval interval = {
		herdd.config->state_fsync_interval / 1000,
		(herdd.config->state_fsync_interval % 1000) * 1000,
	};
	struct timeval retry = { 0, STATE_RETRY_MS * 1000 };
	uint64_t held_back;
	size_t done = 0;

	/*
	 * Appends were let go: a snapshot must cover them, tried until one is made. What
	 * waits now is in the table too, so it goes the same way: written to a journal that
	 * has just taken the disk's room, it would leave none for the snapshot.
	 */
	if (state.lost && state.child == 0 && !state.closing) {
		uint64_t now = htime_mono_ms();

		if (now >= state.compact_after_ms)
			state_compact();
		state_drop_pending();
		if (state.child == 0) {
			uint64_t wait = state.compact_after_ms > now ? state.compact_after_ms - now :
			    STATE_RETRY_MS;
			struct timeval again = { (time_t)(wait / 1000),
			    (suseconds_t)(wait % 1000) * 1000 };

			evtimer_add(state.retry_timer, &again);
		}
		return false;           /* replies wait for the snapshot, not for a write */
	}
	if (state.len == 0)
		return true;
	while (done < state.len) {
		ssize_t n = write(state.fd, state.buf + done, state.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* What went out stays out; the rest is tried again, replies wait. */
			memmove(state.buf, state.buf + done, state.len - done);
			state.len -= done;
			stats.state_journal_bytes += done;
			stats.state_write_errors++;
			if (ratelimit_allow(&state.write_warnings, htime_mono_ms(), &held_back))
				log_warnx("event=state_write_failed file=%s error=\"%s\" "
				    "suppressed=%" PRIu64 " note=\"replies wait until it can be "
				    "written\"",
				    state_journal_q(state.gen),
				    n < 0 ? strerror(errno) : "wrote nothing", held_back);
			evtimer_add(state.retry_timer, &retry);
			return false;
		}
		done += (size_t)n;
	}
	stats.state_journal_bytes += state.len;
	stats.state_journal_records += state.buf_records;
	state.written += state.buf_records;
	state.len = 0;
	state.buf_records = 0;

	if (state.written - state.kicked >= herdd.config->state_fsync_batch)
		state_kick();
	else if (!evtimer_pending(state.fsync_timer, NULL))
		evtimer_add(state.fsync_timer, &interval);

	if (state.child == 0 && !state.closing && htime_mono_ms() >= state.compact_after_ms &&
	    (state.compact_soon || (stats.state_journal_records >= herdd.config->state_compact_min &&
	    stats.state_journal_records > 2 * table_count(herdd.table))))
		state_compact();
	return true;
}

/* --- snapshots -------------------------------------------------------------------- */

/*
 * The child: writes the table as NAME.snapshot of generation GEN through BUF, makes it
 * durable, removes the journals it replaces, and reports on FD. No allocation, no
 * stdio, no exit handlers: system calls, snprintf and the table's memory (a copy, as
 * of the fork); the only other thread (the syncer) takes no lock these need.
 */
static void __attribute__((noreturn)) state_child(int fd, uint64_t gen, char *buf)
{
	struct statefmt_header h = { .kind = STATEFMT_SNAPSHOT, .gen = gen };
	char tmp[CONFIG_NAME_MAX + 24], file[CONFIG_NAME_MAX + 16], msg[256];
	const struct record *rec;
	uint64_t records = 0, bytes = 0;
	size_t len = 0;
	const char *what = "write";
	int out;

	snprintf(h.herd, sizeof(h.herd), "%s", state.herd);
	snprintf(h.node, sizeof(h.node), "%s", state.name);
	snprintf(tmp, sizeof(tmp), "%s.snapshot.tmp", state.name);
	snprintf(file, sizeof(file), "%s.snapshot", state.name);
	out = openat(state.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		what = "create";
		goto fail;
	}
	len = statefmt_header_line(buf, &h);
	/* In ID order: loading appends each record at the end of the order, no search. */
	for (rec = table_first(herdd.table); rec != NULL; rec = table_next_by_id(rec)) {
		size_t need = statefmt_line_size(record_len(rec));

		/* BUF holds STATE_CHILD_BUF, one line of any length and the END line beyond. */
		if (len >= STATE_CHILD_BUF) {
			if (!state_write_all(out, buf, len))
				goto fail;
			bytes += len;
			len = 0;
		}
		statefmt_line(buf + len, record_line(rec), record_len(rec));
		len += need;
		records++;
	}
	len += statefmt_end_line(buf + len, records);
	if (!state_write_all(out, buf, len))
		goto fail;
	bytes += len;
	what = "fsync";
	if (fsync(out) < 0)
		goto fail;
	what = "close";
	if (close(out) < 0)
		goto fail;
	out = -1;
	what = "rename";
	if (renameat(state.dirfd, tmp, state.dirfd, file) < 0)
		goto fail;
	what = "fsync the folder after";
	if (fsync(state.dirfd) < 0)
		goto fail;
	state_remove_journals_before(gen);
	len = (size_t)snprintf(msg, sizeof(msg), "ok %" PRIu64 " %" PRIu64, records, bytes);
	(void)state_write_all(fd, msg, len);
	_exit(0);
fail:
	len = (size_t)snprintf(msg, sizeof(msg), "cannot %s %s: %s", what, tmp,
	    strerror(errno));
	(void)state_write_all(fd, msg, len);
	if (out >= 0)
		(void)unlinkat(state.dirfd, tmp, 0);
	_exit(1);
}

/*
 * Closes in the child every descriptor but state_dir's, the lock's (a restart of a
 * killed node waits for this child to die too) and REPORT's: a connection the node
 * closes must not stay open in here until the snapshot is written.
 */
static void state_child_close_fds(int report)
{
	int keep[3] = { state.dirfd, state.lockfd, report };
	unsigned int from = 3;
	struct rlimit rl;

	/* Ascending, so the ranges between them are easy. */
	for (int i = 0; i < 3; i++) {
		for (int j = i + 1; j < 3; j++) {
			if (keep[j] < keep[i]) {
				int t = keep[i];

				keep[i] = keep[j];
				keep[j] = t;
			}
		}
	}
	for (int i = 0; i <= 3; i++) {
		unsigned int to = i < 3 ? (unsigned int)keep[i] : ~0U;

		if (to > from && close_range(from, to - 1, 0) < 0) {
			/* No close_range (old kernel, or a seccomp filter): one by one. */
			if (to == ~0U)
				to = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
				    rl.rlim_cur != RLIM_INFINITY ? (unsigned int)rl.rlim_cur : 65536;
			for (unsigned int fd = from; fd < to; fd++)
				(void)close((int)fd);
		}
		if (i < 3)
			from = (unsigned int)keep[i] + 1;
	}
}

/* The child's report arrives; at its end, the child is gone. */
/* The stop's last snapshot: called when the child is done (or could not start). */
static void (*final_done)(void);
/* The stop found a snapshot under way: what was journaled since its fork needs one more. */
static bool final_again;

/* The child is done (SNAPSHOT_OK: it wrote its snapshot), or could not start. */
static void state_final_done(bool snapshot_ok)
{
	void (*done)(void) = final_done;

	if (done == NULL)
		return;
	if (final_again && snapshot_ok) {
		final_again = false;
		(void)state_write();            /* it may start one itself */
		if (state.child == 0 && stats.state_journal_records > 0)
			state_compact();
	}
	/* A child under way (that one, or one the write or the lost mode started): its end
	 * comes back here. */
	if (state.child != 0)
		return;
	final_again = false;
	final_done = NULL;
	done();
}

static void state_child_cb(evutil_socket_t fd, short what, void *arg)
{
	char chunk[256];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	unsigned long long records, bytes;
	int status = 0;
	size_t keep;

	/* A pipe fails only with EINTR or EAGAIN: the end is EOF, when the child is gone. */
	if (n < 0)
		return;
	if (n > 0) {
		keep = sizeof(state.child_msg) - 1 - state.child_msg_len;
		keep = (size_t)n < keep ? (size_t)n : keep;
		memcpy(state.child_msg + state.child_msg_len, chunk, keep);
		state.child_msg_len += keep;
		return;
	}
	state.child_msg[state.child_msg_len] = '\0';
	while (waitpid(state.child, &status, 0) < 0 && errno == EINTR)
		;
	event_free(state.child_event);
	state.child_event = NULL;
	close(state.child_fd);
	state.child_fd = -1;
	state.child = 0;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    sscanf(state.child_msg, "ok %llu %llu", &records, &bytes) == 2) {
		stats.state_compactions++;
		stats.state_snapshot_records = records;
		stats.state_snapshot_bytes = bytes;
		stats.state_journal_records -= state.child_journal_records;
		stats.state_journal_bytes -= state.child_journal_bytes;
		state.snapshot_time = htime_now().sec;
		state.compact_soon = false;
		char file[NAME_MAX + 1];

		snprintf(file, sizeof(file), "%s.snapshot", state.name);
		log_info("event=state_snapshot file=%s gen=%" PRIu64 " records=%llu bytes=%llu",
		    state_file_q(file), state.child_gen, records, bytes);
		/* It holds what was let go: the replies that waited for it may go. */
		if (state.lost && state.child_gen > state.lost_gen) {
			state.lost = false;
			log_info("event=state_appends_covered gen=%" PRIu64, state.child_gen);
			if (state.len == 0)
				state.on_written();
			else
				event_active(state.flush_event, EV_TIMEOUT, 1);
		} else if (state.lost) {
			(void)state_write();    /* it began before the loss: the next one, now */
		}
		state_final_done(true);
		return;
	}
	stats.state_compaction_failures++;
	state.compact_after_ms = htime_mono_ms() + state_compact_backoff_ms();
	if (state.lost)
		(void)state_write();    /* arms the next try */
	log_warnx("event=state_snapshot_failed state_dir=%s error=\"%s\" status=%d "
	    "note=\"the journals are kept; tried again in %d s\"", state_dir_q(),
	    state.child_msg_len > 0 ? state.child_msg : "the child died", status,
	    state_compact_backoff_ms() / 1000);
	state_final_done(false);
}

/*
 * Starts a new generation: new appends go to a new journal, and a child writes the
 * table as it is now as the snapshot of that generation.
 */
static void state_compact(void)
{
	struct state_syncer *s = &state.sync;
	size_t bufsize = STATE_CHILD_BUF + STATEFMT_META_MAX +
	    statefmt_line_size(herdd.config->max_line + CONFIG_PEER_LINE_EXTRA);
	sigset_t all, old;
	int fds[2], fd;
	pid_t pid, parent = getpid();
	uint64_t gen = state.gen + 1;
	bool room;
	char *buf;

	/* Failures below wait for the backoff; a success does not. */
	state.compact_after_ms = htime_mono_ms() + state_compact_backoff_ms();
	pthread_mutex_lock(&s->mu);
	room = s->nretire < STATE_RETIRE_MAX;
	pthread_mutex_unlock(&s->mu);
	if (!room)
		return;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		stats.state_compaction_failures++;
		log_warn("event=state_snapshot_failed state_dir=%s what=pipe", state_dir_q());
		return;
	}
	/* The snapshot replaces every journal so far. */
	state.child_journal_records = stats.state_journal_records;
	state.child_journal_bytes = stats.state_journal_bytes;
	fd = state_journal_create(gen);
	if (fd < 0) {
		stats.state_compaction_failures++;
		log_warn("event=state_snapshot_failed state_dir=%s what=\"create journal %" PRIu64
		    "\"", state_dir_q(), gen);
		close(fds[0]);
		close(fds[1]);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->retire[s->nretire++] = state.fd;
	s->fd = fd;
	s->sync_dir = true;
	s->want = state.written;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	state.kicked = state.written;
	state.fd = fd;
	state.gen = gen;

	/* The child allocates nothing: its buffer comes from here. */
	buf = xmalloc(bufsize);
	/* No signal reaches the child's copy of libevent's handlers before they are reset. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/* A child outliving a killed node would hold the lock its restart waits for. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (getppid() != parent)
			_exit(1);
		(void)setpriority(PRIO_PROCESS, 0, STATE_SYNCER_NICE);
		state_child_close_fds(fds[1]);
		state_child(fds[1], gen, buf);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(buf);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		stats.state_compaction_failures++;
		log_warn("event=state_snapshot_failed state_dir=%s what=fork", state_dir_q());
		return;
	}
	state.compact_after_ms = 0;
	state.child = pid;
	state.child_fd = fds[0];
	state.child_gen = gen;
	state.child_msg_len = 0;
	state.child_event = xcheck(event_new(herdd.base, fds[0], EV_READ | EV_PERSIST,
	    state_child_cb, NULL));
	event_add(state.child_event, NULL);
	log_info("event=state_snapshot_started gen=%" PRIu64 " pid=%ld journal_records=%" PRIu64
	    " clients=%zu", gen, (long)pid, stats.state_journal_records,
	    table_count(herdd.table));
}

/* --- stats and shutdown ----------------------------------------------------------- */

bool state_snapshot_final(void (*done)(void))
{
	bool running = state.child != 0;

	if (!state.enabled)
		return false;
	(void)state_write();
	final_done = done;
	if (state.child != 0) {
		/* One under way before the write: then one of what came since its fork. */
		final_again = running;
		return true;
	}
	if (stats.state_journal_records == 0 && !state.lost) {
		final_done = NULL;
		return false;
	}
	state_compact();
	if (state.child == 0) {
		final_done = NULL;
		return false;
	}
	return true;
}

void state_stats_refresh(void)
{
	uint64_t now = htime_mono_ms();
	struct state_syncer *s = &state.sync;
	int64_t wall = htime_now().sec;

	if (!state.enabled)
		return;
	stats.state_snapshot_age_seconds = state.snapshot_time == 0 ||
	    wall < state.snapshot_time ? 0 : (uint64_t)(wall - state.snapshot_time);
	pthread_mutex_lock(&s->mu);
	stats.state_fsyncs = s->fsyncs;
	stats.state_fsync_errors = s->errors;
	stats.state_last_fsync_age_ms = s->last_ms == 0 ? 0 : now - s->last_ms;
	stats.state_unsynced_records = state.written - s->done;
	pthread_mutex_unlock(&s->mu);
}

void state_close(void)
{
	struct state_syncer *s = &state.sync;
	int status;

	if (!state.enabled)
		return;
	state.closing = true;
	(void)state_write();
	if (state.child != 0) {
		/* Its temp file is removed at the next start; the journals are all kept. */
		kill(state.child, SIGKILL);
		while (waitpid(state.child, &status, 0) < 0 && errno == EINTR)
			;
		event_free(state.child_event);
		close(state.child_fd);
		state.child = 0;
	}
	pthread_mutex_lock(&s->mu);
	s->want = state.written;
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	if (s->errors > 0)
		log_warnx("event=state_fsync_failed count=%" PRIu64 " error=\"%s\"", s->errors,
		    strerror(s->last_errno));
	close(state.fd);
	event_free(state.fsync_timer);
	event_free(state.flush_event);
	event_free(state.retry_timer);
	free(state.buf);
	close(state.lockfd);
	close(state.dirfd);
	state.enabled = false;
}
