/* tests/core/test_registry_conc.c — the registry under concurrency: threads
 * and forked processes recording at full speed while snapshots are taken
 * (suite registry_conc), and children killed or stopped at random moments
 * (suite registry_robust).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"
#include "test_registry.h"
#include "tracker.h"

#define N_ROUTES 40
#define N_METHODS 3
#define N_STATUS 2
#define N_KEYS (N_ROUTES * N_METHODS * N_STATUS)
#define WORKERS 4 /* two threads, two processes */
#define ITER 60000

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec t = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* Wait for pid with a deadline; kills it when the deadline passes. Returns
 * the wait status, or -1 when it had to be killed. */
static int wait_deadline(pid_t pid, uint64_t ns)
{
	uint64_t end = now_ns() + ns;
	int st;
	for (;;) {
		pid_t p = waitpid(pid, &st, WNOHANG);
		if (p == pid)
			return st;
		if (p < 0)
			return -2;
		if (now_ns() > end) {
			kill(pid, SIGCONT);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		sleep_ns(1000000);
	}
}

/* fork() for the tests: a child dies with the test process, even a child
 * left stopped, should an assertion end the test early. */
static pid_t fork_child(void)
{
	pid_t parent = getpid();
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
	}
	return p;
}

/* The i-th observation of worker w: deterministic, so the parent can
 * replay every worker and know the exact totals. */
struct obs {
	unsigned route, method, status;
	uint64_t dur, req, resp;
};

static void gen(unsigned w, unsigned i, struct obs *o)
{
	uint64_t x = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(w + 1) * 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	o->route = (unsigned)(x % N_ROUTES);
	o->method = TRK_M_GET + (unsigned)((x >> 8) % N_METHODS);
	o->status = (unsigned)((x >> 16) % N_STATUS) ? 404 : 200;
	o->dur = (x >> 20) % 12000000000ull; /* 0..12 s: every bucket and +Inf */
	o->req = (x >> 3) % 3 ? 0 : (x >> 24) % 300000;
	o->resp = (x >> 40) % 200000000ull;
}

static unsigned key_index(unsigned route, unsigned method, unsigned status)
{
	return (route * N_METHODS + (method - TRK_M_GET)) * N_STATUS + (status == 404);
}

static void work(struct reg *r, unsigned w, unsigned iters)
{
	char l[32];
	for (unsigned i = 0; i < iters; i++) {
		struct obs o;
		gen(w, i, &o);
		/* interned on every call: routes race too */
		int n = snprintf(l, sizeof l, "/c/%u", o.route);
		uint32_t id = reg_route(r, l, (size_t)n);
		reg_observe(r, o.method, id, o.status, o.dur, o.req, o.resp);
		if (i % 7 == 0)
			reg_abort(r, o.method, id);
		if (i % 100 == 0)
			reg_add(r, REG_C_CONN_ACCEPTED, 1);
	}
}

struct worker_arg {
	struct reg *r;
	unsigned w;
};

static void *thread_main(void *p)
{
	struct worker_arg *a = p;
	work(a->r, a->w, ITER);
	return NULL;
}

struct snapper {
	struct reg *r;
	_Atomic int stop;
	int exact_keys; /* label sets map to key_index (no cap) */
	unsigned taken;
	const char *err;
	uint64_t last[N_KEYS];
	uint64_t last_total;
};

static int parse_route(const struct reg_snap_series *x, unsigned *route)
{
	if (x->route_len < 4 || memcmp(x->route_label, "/c/", 3) != 0)
		return 0;
	unsigned v = 0;
	for (size_t i = 3; i < x->route_len; i++)
		v = v * 10 + (unsigned)(x->route_label[i] - '0');
	*route = v;
	return v < N_ROUTES;
}

static void *snap_main(void *p)
{
	struct snapper *sn = p;
	while (!atomic_load(&sn->stop) && !sn->err) {
		struct reg_snapshot s;
		if (reg_snapshot_take(sn->r, &s) != 0) {
			sn->err = "snapshot failed";
			break;
		}
		sn->err = treg_check(&s);
		uint64_t t = treg_total(&s);
		if (t < sn->last_total)
			sn->err = "total decreased";
		sn->last_total = t;
		for (size_t i = 0; sn->exact_keys && i < s.n_series && !sn->err; i++) {
			unsigned rt;
			if (!parse_route(&s.series[i], &rt)) {
				sn->err = "unexpected route";
				break;
			}
			unsigned k = key_index(rt, s.series[i].method, s.series[i].status);
			if (s.series[i].count < sn->last[k])
				sn->err = "series count decreased";
			sn->last[k] = s.series[i].count;
		}
		reg_snapshot_free(&s);
		sn->taken++;
	}
	return NULL;
}

struct expect {
	uint64_t count, dur_sum_us, req_sum, resp_sum, aborts;
	uint64_t dur[REG_MAX_BUCKETS], req[REG_SIZE_BUCKETS], resp[REG_SIZE_BUCKETS];
};

static void replay(const struct reg_config *cfg, struct expect *e)
{
	memset(e, 0, sizeof *e * N_KEYS);
	for (unsigned w = 0; w < WORKERS; w++)
		for (unsigned i = 0; i < ITER; i++) {
			struct obs o;
			gen(w, i, &o);
			struct expect *x = &e[key_index(o.route, o.method, o.status)];
			x->count++;
			x->dur_sum_us += (o.dur + 500) / 1000;
			x->req_sum += o.req;
			x->resp_sum += o.resp;
			for (unsigned b = 0; b < cfg->n_buckets; b++)
				x->dur[b] += o.dur <= (uint64_t)(cfg->bucket_s[b] * 1e9 + 0.5);
			for (unsigned b = 0; b < REG_SIZE_BUCKETS; b++) {
				x->req[b] += o.req <= reg_size_bounds[b];
				x->resp[b] += o.resp <= reg_size_bounds[b];
			}
			if (i % 7 == 0)
				e[key_index(o.route, o.method, 200)].aborts++;
		}
}

/* Two threads and two processes record; a third thread snapshots. */
static void run_family(struct reg *r, struct snapper *sn)
{
	pthread_t th[2], st;
	struct worker_arg wa[2] = {{r, 0}, {r, 1}};
	pid_t kids[2];
	sn->r = r;
	cr_assert_eq(pthread_create(&st, NULL, snap_main, sn), 0);
	for (int k = 0; k < 2; k++) {
		kids[k] = fork_child();
		cr_assert_geq(kids[k], 0);
		if (kids[k] == 0) {
			work(r, 2 + (unsigned)k, ITER);
			_exit(0);
		}
	}
	for (int t = 0; t < 2; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, thread_main, &wa[t]), 0);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	for (int k = 0; k < 2; k++) {
		int stt = wait_deadline(kids[k], 60000000000ull);
		cr_assert(stt >= 0 && WIFEXITED(stt) && WEXITSTATUS(stt) == 0, "child %d: %d", k, stt);
	}
	atomic_store(&sn->stop, 1);
	pthread_join(st, NULL);
	cr_assert_null(sn->err, "snapshot %u: %s", sn->taken, sn->err);
	cr_assert_gt(sn->taken, 0);
	cr_log_info("%u snapshots taken while recording", sn->taken);
}

Test(registry_conc, threads_and_processes_exact, .timeout = 120)
{
	struct reg *r = treg_new(1000, NULL);
	static struct snapper sn = {.exact_keys = 1};
	run_family(r, &sn);
	static struct expect e[N_KEYS];
	replay(reg_config(r), e);
	struct reg_snapshot s;
	cr_assert_eq(reg_snapshot_take(r, &s), 0);
	cr_assert_null(treg_check(&s));
	cr_assert_eq(treg_total(&s), (uint64_t)WORKERS * ITER);
	cr_assert_eq(s.overflow, 0);
	cr_assert_eq(s.n_series, N_KEYS);
	cr_assert_eq(s.series_regular, N_KEYS);
	unsigned nb = reg_config(r)->n_buckets;
	for (size_t i = 0; i < s.n_series; i++) {
		const struct reg_snap_series *x = &s.series[i];
		unsigned rt;
		cr_assert(parse_route(x, &rt));
		const struct expect *w = &e[key_index(rt, x->method, x->status)];
		cr_assert_eq(x->count, w->count);
		cr_assert_eq(x->dur_sum_us, w->dur_sum_us);
		cr_assert_eq(x->req_sum, w->req_sum);
		cr_assert_eq(x->resp_sum, w->resp_sum);
		for (unsigned b = 0; b < nb; b++)
			cr_assert_eq(x->dur_cum[b], w->dur[b]);
		for (unsigned b = 0; b < REG_SIZE_BUCKETS; b++) {
			cr_assert_eq(x->req_cum[b], w->req[b]);
			cr_assert_eq(x->resp_cum[b], w->resp[b]);
		}
	}
	uint64_t ab = 0, want_ab = 0;
	for (size_t i = 0; i < s.n_aborted; i++)
		ab += s.aborted[i].count;
	for (unsigned k = 0; k < N_KEYS; k++)
		want_ab += e[k].aborts;
	cr_assert_eq(ab, want_ab);
	cr_assert_eq(s.counters[REG_C_CONN_ACCEPTED], (uint64_t)WORKERS * (ITER / 100));
	reg_snapshot_free(&s);
}

Test(registry_conc, cap_under_contention, .timeout = 120)
{
	/* 240 label sets race for 50 regular series */
	struct reg *r = treg_new(50, NULL);
	static struct snapper sn = {.exact_keys = 0};
	run_family(r, &sn);
	struct reg_snapshot s;
	cr_assert_eq(reg_snapshot_take(r, &s), 0);
	cr_assert_null(treg_check(&s));
	cr_assert_eq(treg_total(&s), (uint64_t)WORKERS * ITER);
	cr_assert_eq(s.series_regular, 50);
	uint64_t reg_total = 0, ovf_series = 0;
	for (size_t i = 0; i < s.n_series; i++) {
		if (s.series[i].route == REG_ROUTE_OTHER)
			ovf_series++;
		else
			reg_total += s.series[i].count;
	}
	/* (3 methods x 2 statuses) overflow series */
	cr_assert_eq(ovf_series, N_METHODS * N_STATUS);
	cr_assert_eq(s.n_series, 50 + N_METHODS * N_STATUS);
	cr_assert_eq(s.overflow - s.overflow_aborted, (uint64_t)WORKERS * ITER - reg_total);
	cr_assert_gt(s.overflow_aborted, 0);
	uint64_t ab = 0;
	for (size_t i = 0; i < s.n_aborted; i++)
		ab += s.aborted[i].count;
	cr_assert_eq(ab, (uint64_t)WORKERS * ((ITER + 6) / 7));
	reg_snapshot_free(&s);
}

/* ---- robustness: children killed or stopped at random moments ---- */

#define R_SLOTS 64
#define R_LIVE 4

struct ctl {
	_Atomic uint64_t done[R_SLOTS];    /* observations completed per child */
	_Atomic uint64_t aborted[R_SLOTS]; /* aborts completed per child */
};

static void child_main(struct reg *r, struct ctl *c, unsigned slot)
{
	char l[48];
	unsigned pid = (unsigned)getpid();
	for (uint64_t i = 0;; i++) {
		/* new routes and series all the time, until both tables fill */
		int n = snprintf(l, sizeof l, "/k/%u/%u", pid, (unsigned)(i % 700));
		uint32_t id = reg_route(r, l, (size_t)n);
		reg_observe(r, TRK_M_GET + (unsigned)(i % 4), id, 200 + (unsigned)(i % 5), i * 997 % 3000000000ull,
			    i % 1000, i % 100000);
		atomic_fetch_add(&c->done[slot], 1);
		if (i % 5 == 0) {
			reg_abort(r, TRK_M_POST, id);
			atomic_fetch_add(&c->aborted[slot], 1);
		}
	}
}

static pid_t spawn(struct reg *r, struct ctl *c, unsigned slot)
{
	pid_t p = fork_child();
	cr_assert_geq(p, 0);
	if (p == 0) {
		child_main(r, c, slot);
		_exit(0);
	}
	return p;
}

Test(registry_robust, sigkill_and_sigstop, .timeout = 120)
{
	struct reg *r = treg_new(300, NULL);
	struct ctl *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(c, MAP_FAILED);
	uint32_t mine = reg_route(r, "/parent", 7);
	reg_observe(r, TRK_M_GET, mine, 299, 1, 0, 0);
	uint64_t my_obs = 1;
	unsigned seed = (unsigned)now_ns();
	cr_log_info("seed %u", seed);
	srand(seed);

	pid_t pid[R_SLOTS] = {0};
	int stopped[R_SLOTS] = {0};
	unsigned live[R_LIVE], next = 0, spawned = 0, kills = 0, stops = 0, snaps = 0;
	for (unsigned i = 0; i < R_LIVE; i++) {
		live[i] = next++;
		pid[live[i]] = spawn(r, c, live[i]);
		spawned++;
	}
	uint64_t t_end = now_ns() + 3000000000ull, last_total = 0, worst = 0;
	while (now_ns() < t_end) {
		/* the parent keeps recording and snapshotting: every batch must
		 * finish promptly whatever the children are doing */
		uint64_t t0 = now_ns();
		for (int k = 0; k < 2000; k++)
			reg_observe(r, TRK_M_GET, mine, 299, 1000, 10, 10);
		my_obs += 2000;
		struct reg_snapshot s;
		cr_assert_eq(reg_snapshot_take(r, &s), 0);
		const char *err = treg_check(&s);
		cr_assert_null(err, "snapshot %u: %s", snaps, err);
		uint64_t tot = treg_total(&s);
		cr_assert_geq(tot, last_total);
		last_total = tot;
		const struct reg_snap_series *x = treg_find(&s, TRK_M_GET, "/parent", 299);
		cr_assert_not_null(x);
		cr_assert_eq(x->count, my_obs);
		reg_snapshot_free(&s);
		snaps++;
		uint64_t dt = now_ns() - t0;
		if (dt > worst)
			worst = dt;
		cr_assert_lt(dt, 1000000000ull, "parent blocked for %lu ns", (unsigned long)dt);

		sleep_ns((uint64_t)(rand() % 20000) * 1000);
		unsigned i = (unsigned)rand() % R_LIVE, sl = live[i];
		int act = rand() % 3;
		if (act == 0 && next < R_SLOTS) {
			kill(pid[sl], SIGKILL);
			int st = wait_deadline(pid[sl], 5000000000ull);
			cr_assert(st >= 0 && WIFSIGNALED(st), "child %u did not die cleanly", sl);
			kills++;
			pid[sl] = 0;
			live[i] = next++;
			pid[live[i]] = spawn(r, c, live[i]);
			spawned++;
		} else if (act == 1 && !stopped[sl]) {
			kill(pid[sl], SIGSTOP);
			stopped[sl] = 1;
			stops++;
		} else if (stopped[sl]) {
			kill(pid[sl], SIGCONT);
			stopped[sl] = 0;
		}
	}
	for (unsigned i = 0; i < R_LIVE; i++) {
		unsigned sl = live[i];
		if (stopped[sl])
			kill(pid[sl], SIGCONT);
		kill(pid[sl], SIGKILL);
		int st = wait_deadline(pid[sl], 5000000000ull);
		cr_assert(st >= 0 && WIFSIGNALED(st), "child %u did not die cleanly", sl);
	}
	cr_log_info("%u snapshots, %u kills, %u stops, worst parent batch %lu us", snaps, kills, stops,
		    (unsigned long)(worst / 1000));

	uint64_t done = 0, aborted = 0;
	for (unsigned i = 0; i < next; i++) {
		done += atomic_load(&c->done[i]);
		aborted += atomic_load(&c->aborted[i]);
	}
	struct reg_snapshot s;
	cr_assert_eq(reg_snapshot_take(r, &s), 0);
	cr_assert_null(treg_check(&s));
	/* every child was killed, each with at most one observation in
	 * progress: completed ones are an exact lower bound */
	uint64_t tot = treg_total(&s);
	cr_assert_geq(tot, my_obs + done);
	cr_assert_leq(tot, my_obs + done + spawned);
	uint64_t ab = 0;
	for (size_t i = 0; i < s.n_aborted; i++)
		ab += s.aborted[i].count;
	cr_assert_geq(ab, aborted);
	cr_assert_leq(ab, aborted + spawned);
	cr_assert_eq(treg_find(&s, TRK_M_GET, "/parent", 299)->count, my_obs);
	cr_assert_leq(s.series_regular, 300);
	cr_assert_gt(done, 0);
	reg_snapshot_free(&s);
	munmap(c, sizeof *c);
}

/* A child creates routes and series as fast as it can and is stopped or
 * killed at a random moment; the parent then interns the very labels the
 * child was creating, so it meets whatever slot the child left half-done,
 * and must go through without waiting. */
static void creator_main(struct reg *r, struct ctl *c, unsigned round)
{
	char l[48];
	for (unsigned i = 0;; i++) {
		int n = snprintf(l, sizeof l, "/s/%u/%u", round, i);
		uint32_t id = reg_route(r, l, (size_t)n);
		reg_observe(r, TRK_M_GET, id, 200, 1000, 0, 0);
		atomic_fetch_add(&c->done[round], 1);
	}
}

Test(registry_robust, parent_meets_half_created_slots, .timeout = 120)
{
	struct reg *r = treg_new(60000, NULL);
	struct ctl *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(c, MAP_FAILED);
	unsigned seed = (unsigned)now_ns();
	cr_log_info("seed %u", seed);
	srand(seed);
	uint64_t mine = 0, theirs = 0, worst = 0;
	unsigned rounds = 24;
	char l[48];
	for (unsigned round = 0; round < rounds; round++) {
		pid_t p = fork_child();
		cr_assert_geq(p, 0);
		if (p == 0) {
			creator_main(r, c, round);
			_exit(0);
		}
		/* let it get going, then freeze or kill it mid-stride */
		uint64_t until = now_ns() + 2000000000ull;
		while (atomic_load(&c->done[round]) < 100 && now_ns() < until)
			sleep_ns(100000);
		sleep_ns((uint64_t)(rand() % 3000) * 1000);
		int stop = round % 2 == 0;
		kill(p, stop ? SIGSTOP : SIGKILL);
		if (stop) {
			/* wait until it is really stopped, so it cannot finish */
			int st;
			cr_assert_eq(waitpid(p, &st, WUNTRACED), p);
			cr_assert(WIFSTOPPED(st));
		} else {
			int st = wait_deadline(p, 5000000000ull);
			cr_assert(st >= 0 && WIFSIGNALED(st));
		}
		uint64_t done = atomic_load(&c->done[round]);
		uint64_t t0 = now_ns();
		for (uint64_t j = 0; j < done + 64; j++) {
			int n = snprintf(l, sizeof l, "/s/%u/%u", round, (unsigned)j);
			uint32_t id = reg_route(r, l, (size_t)n);
			cr_assert_neq(id, REG_ROUTE_OTHER);
			reg_observe(r, TRK_M_GET, id, 200, 1000, 0, 0);
			mine++;
		}
		struct reg_snapshot s;
		cr_assert_eq(reg_snapshot_take(r, &s), 0);
		const char *err = treg_check(&s);
		cr_assert_null(err, "round %u: %s", round, err);
		reg_snapshot_free(&s);
		uint64_t dt = now_ns() - t0;
		if (dt > worst)
			worst = dt;
		cr_assert_lt(dt, 2000000000ull, "round %u took %lu ns", round, (unsigned long)dt);
		if (stop) {
			kill(p, SIGKILL);
			kill(p, SIGCONT);
			int st = wait_deadline(p, 5000000000ull);
			cr_assert(st >= 0 && WIFSIGNALED(st));
		}
		theirs += atomic_load(&c->done[round]);
	}
	cr_log_info("%lu labels by children, worst parent round %lu us", (unsigned long)theirs,
		    (unsigned long)(worst / 1000));
	struct reg_snapshot s;
	cr_assert_eq(reg_snapshot_take(r, &s), 0);
	cr_assert_null(treg_check(&s));
	uint64_t tot = treg_total(&s);
	cr_assert_geq(tot, mine + theirs);
	cr_assert_leq(tot, mine + theirs + rounds);
	/* every label the parent recorded is there once, with its own count
	 * and the child's; only a slot a child left half-written renders as
	 * _OTHER */
	uint64_t labelled = 0, other = 0;
	for (size_t i = 0; i < s.n_series; i++) {
		if (s.series[i].route == REG_ROUTE_OTHER)
			other += s.series[i].count;
		else
			labelled += s.series[i].count;
		cr_assert_leq(s.series[i].count, s.series[i].route == REG_ROUTE_OTHER ? 2 * rounds : 2);
	}
	cr_assert_eq(labelled + other, tot);
	cr_assert_eq(s.overflow, 0);
	reg_snapshot_free(&s);
	munmap(c, sizeof *c);
}
