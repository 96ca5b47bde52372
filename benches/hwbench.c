/*
 * hwbench: the measuring helper of benches/compare.sh.
 *
 * Each subcommand runs the inits under test against real processes and
 * prints raw samples, one per line, as "LABEL KEY VALUE"; compare.sh turns
 * them into medians and ratios.  Timestamps are CLOCK_MONOTONIC, which is
 * the same clock in every process, so a child can stamp the moment its
 * signal handler runs and the measurer subtracts its own send time.
 *
 * Groups of commands are given as LABEL ARGV... separated by "::".
 *
 *   hwbench startup ROUNDS GROUPS       spawn-to-exit time of each command
 *   hwbench rest SETTLE SECS GROUPS     wake-ups and memory of idle inits
 *   hwbench forward SETTLE COUNT GROUPS signal forwarding latency
 *   hwbench reload LABEL COUNT SELF HUPWATCH...  reload latency, memory, fds
 *   hwbench orphans LABEL N             (child) leave N orphans, time reaping
 *   hwbench watch LABEL N DIR ROUNDS SELF HUPWATCH   --watch with N paths
 *   hwbench busydir LABEL COUNT DIR SELF HUPWATCH    rewrites in a watched dir
 *   hwbench reloads SETTLE COUNT GROUPS  reload latency of reloaders, in turn
 *   hwbench drains LABEL MAX HUPWATCH...  draining generations until reloads fail
 *   hwbench crash LABEL COUNT SELF HUPWATCH...     crash -> next generation serving
 *   hwbench crashloop LABEL SECS SELF HUPWATCH...  hupwatch's CPU in a crash loop
 *   hwbench hung LABEL COUNT SELF HUPWATCH...      watchdog miss -> hung one replaced
 *   hwbench crashchild | crashnow | watchdogchild  (children of those three)
 *   hwbench sigecho | reloadchild | notifychild | drainchild   (children of
 *                                       the inits; notifychild sends READY=1
 *                                       first, drainchild too and then never
 *                                       stops on SIGTERM)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* One event from a child: written with one write(2), so atomic on a pipe. */
struct rec {
	int32_t kind; /* 'R' ready, 'S' signal handler ran, 'T' stop signal */
	int32_t pid;
	int64_t ns;
};

struct group {
	const char *label;
	char **argv;
	pid_t pid;
	int fd; /* read end of the child's stdout pipe, or -1 */
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "hwbench: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Split "LABEL ARGV... :: LABEL ARGV..." in place. */
static int parse_groups(int argc, char **argv, struct group *g, int max)
{
	int n = 0;
	int i = 0;
	while (i < argc) {
		if (n == max || i + 1 >= argc)
			die("bad command groups");
		g[n].label = argv[i];
		g[n].argv = &argv[i + 1];
		g[n].pid = -1;
		g[n].fd = -1;
		int j = i + 1;
		while (j < argc && strcmp(argv[j], "::") != 0)
			j++;
		if (j < argc)
			argv[j] = NULL; /* argv[argc] is NULL already */
		n++;
		i = j + 1;
	}
	return n;
}

/*
 * Start argv with stdin and stderr from us and stdout to a new pipe (whose
 * read end is returned in *out_fd) or to /dev/null when out_fd is NULL.
 */
static pid_t spawn(char **argv, int *out_fd)
{
	posix_spawn_file_actions_t fa;
	int p[2] = { -1, -1 };
	posix_spawn_file_actions_init(&fa);
	if (out_fd) {
		if (pipe2(p, O_CLOEXEC) == -1)
			die("pipe");
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	pid_t pid;
	int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		errno = err;
		die(argv[0]);
	}
	if (out_fd) {
		close(p[1]);
		*out_fd = p[0];
	}
	return pid;
}

/* Read one record, waiting at most timeout_ms; 0 on success. */
static int read_rec(int fd, struct rec *r, int timeout_ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int n = poll(&pfd, 1, timeout_ms);
	if (n <= 0)
		return -1;
	ssize_t got = read(fd, r, sizeof *r);
	return got == (ssize_t)sizeof *r ? 0 : -1;
}

/* Wait for pid to exit within timeout_ms, then SIGKILL it; returns status. */
static int reap(pid_t pid, int timeout_ms)
{
	int status = 0;
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r == -1)
			return -1;
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ns(10 * 1000000);
	}
}

/* The value of "Key:" in /proc/PID/status, or -1. */
static long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long v = -1;
	size_t klen = strlen(key);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Children of pid (from /proc/PID/task/PID/children); first one in *first. */
static int count_children(pid_t pid, pid_t *first)
{
	char path[80], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	int count = 0;
	char *s = buf;
	for (;;) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		if (count == 0 && first)
			*first = (pid_t)v;
		count++;
		s = end;
	}
	return count;
}

static int comm_is(pid_t pid, const char *name)
{
	char path[64], buf[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return strcmp(buf, name) == 0;
}

static void stop_all(struct group *g, int n)
{
	for (int i = 0; i < n; i++)
		if (g[i].pid > 0)
			kill(g[i].pid, SIGTERM);
	for (int i = 0; i < n; i++)
		if (g[i].pid > 0) {
			reap(g[i].pid, 5000);
			g[i].pid = -1;
		}
}

/* 2. start-to-exit: rounds in turn over the commands, each must exit 0. */
static int cmd_startup(int argc, char **argv)
{
	if (argc < 2)
		die("usage: startup ROUNDS GROUPS");
	int rounds = atoi(argv[0]);
	struct group g[16];
	int n = parse_groups(argc - 1, argv + 1, g, 16);
	int warmup = rounds / 10 + 5;
	for (int r = -warmup; r < rounds; r++) {
		for (int k = 0; k < n; k++) {
			struct group *c = &g[((r + warmup) + k) % n];
			int64_t t0 = now_ns();
			pid_t pid = spawn(c->argv, NULL);
			int status;
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				;
			int64_t t1 = now_ns();
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "hwbench: %s did not exit 0 (status %#x)\n",
					c->label, status);
				return 1;
			}
			if (r >= 0)
				printf("%s ns %lld\n", c->label, (long long)(t1 - t0));
		}
	}
	return 0;
}

/* 3+4. idle inits supervising a child: context switches over SECS, VmHWM. */
static int cmd_rest(int argc, char **argv)
{
	if (argc < 3)
		die("usage: rest SETTLE SECS GROUPS");
	double settle = atof(argv[0]);
	double secs = atof(argv[1]);
	struct group g[16];
	int n = parse_groups(argc - 2, argv + 2, g, 16);
	for (int i = 0; i < n; i++)
		g[i].pid = spawn(g[i].argv, NULL);
	/* Rest begins once every init has its child running "sleep". */
	int64_t deadline = now_ns() + 10LL * 1000000000;
	for (int i = 0; i < n; i++) {
		for (;;) {
			pid_t child = 0;
			if (count_children(g[i].pid, &child) == 1 && comm_is(child, "sleep"))
				break;
			if (now_ns() > deadline) {
				fprintf(stderr, "hwbench: %s never started its child\n", g[i].label);
				stop_all(g, n);
				return 1;
			}
			sleep_ns(10 * 1000000);
		}
	}
	sleep_ns((int64_t)(settle * 1e9));
	long vol0[16], inv0[16];
	for (int i = 0; i < n; i++) {
		vol0[i] = proc_status(g[i].pid, "voluntary_ctxt_switches");
		inv0[i] = proc_status(g[i].pid, "nonvoluntary_ctxt_switches");
	}
	sleep_ns((int64_t)(secs * 1e9));
	for (int i = 0; i < n; i++) {
		long vol = proc_status(g[i].pid, "voluntary_ctxt_switches");
		long inv = proc_status(g[i].pid, "nonvoluntary_ctxt_switches");
		printf("%s wakeups %ld\n", g[i].label, (vol - vol0[i]) + (inv - inv0[i]));
		printf("%s voluntary %ld\n", g[i].label, vol - vol0[i]);
		printf("%s hwm_kb %ld\n", g[i].label, proc_status(g[i].pid, "VmHWM"));
		printf("%s rss_kb %ld\n", g[i].label, proc_status(g[i].pid, "VmRSS"));
		printf("%s fds %ld\n", g[i].label, count_fds(g[i].pid));
	}
	stop_all(g, n);
	return 0;
}

/* The CPU a process last ran on (field 39 of /proc/PID/stat), or -1. */
static int last_cpu(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	int cpu = -1;
	/* Fields 3 ... 38 skipped, 39 read. */
	if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d"
			       " %*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*d %d", &cpu) != 1)
		return -1;
	return cpu;
}

/* 6. signal to the init -> handler in its child, in turn over the inits. */
static int cmd_forward(int argc, char **argv)
{
	if (argc < 3)
		die("usage: forward SETTLE COUNT GROUPS");
	double settle = atof(argv[0]);
	int count = atoi(argv[1]);
	struct group g[16];
	int n = parse_groups(argc - 2, argv + 2, g, 16);
	struct rec r;
	for (int i = 0; i < n; i++) {
		g[i].pid = spawn(g[i].argv, &g[i].fd);
		if (read_rec(g[i].fd, &r, 10000) || r.kind != 'R') {
			fprintf(stderr, "hwbench: %s: child never ready\n", g[i].label);
			stop_all(g, n);
			return 1;
		}
	}
	/* Measure the inits at rest, past their start-up work (hupwatch's
	 * warm-up of the first generation, for one). */
	sleep_ns((int64_t)(settle * 1e9));
	int warmup = count / 10 + 5;
	for (int k = -warmup; k < count; k++) {
		for (int j = 0; j < n; j++) {
			int i = (j + k + warmup) % n; /* each init goes first in turn */
			int sender = sched_getcpu();
			int64_t t0 = now_ns();
			kill(g[i].pid, SIGUSR1);
			if (read_rec(g[i].fd, &r, 5000) || r.kind != 'S') {
				fprintf(stderr, "hwbench: %s: signal %d not forwarded\n",
					g[i].label, k + warmup);
				stop_all(g, n);
				return 1;
			}
			if (k < 0)
				continue;
			printf("%s ns %lld\n", g[i].label, (long long)(r.ns - t0));
			/* Where the init and its child ran: on the sender's CPU
			 * ('s') or another one ('o'), the child relative to the
			 * init (after the round, from /proc/PID/stat). */
			int init_cpu = last_cpu(g[i].pid), child_cpu = last_cpu(r.pid);
			if (init_cpu >= 0 && child_cpu >= 0)
				printf("%s at_%c%c_ns %lld\n", g[i].label, init_cpu == sender ? 's' : 'o',
				       child_cpu == init_cpu ? 's' : 'o', (long long)(r.ns - t0));
		}
	}
	stop_all(g, n);
	return 0;
}

static void print_state(const char *label, const char *when, pid_t pid)
{
	printf("%s %s_rss_kb %ld\n", label, when, proc_status(pid, "VmRSS"));
	printf("%s %s_hwm_kb %ld\n", label, when, proc_status(pid, "VmHWM"));
	printf("%s %s_fds %ld\n", label, when, count_fds(pid));
	printf("%s %s_children %d\n", label, when, count_children(pid, NULL));
}

/* Wait until pid has exactly `want` children, up to timeout_ms. */
static int wait_children(pid_t pid, int want, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	while (count_children(pid, NULL) != want) {
		if (now_ns() > deadline)
			return -1;
		sleep_ns(1000000);
	}
	return 0;
}

/* Start argv in directory dir (or ours when NULL) with stdout and stderr to
 * two new pipes, whose read ends are returned. */
static pid_t spawn_piped(char **argv, const char *dir, int *out_fd, int *err_fd)
{
	posix_spawn_file_actions_t fa;
	int o[2], e[2];
	if (pipe2(o, O_CLOEXEC) == -1 || pipe2(e, O_CLOEXEC) == -1)
		die("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	if (dir)
		posix_spawn_file_actions_addchdir_np(&fa, dir);
	pid_t pid;
	int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		errno = err;
		die(argv[0]);
	}
	close(o[1]);
	close(e[1]);
	*out_fd = o[0];
	*err_fd = e[0];
	return pid;
}

/* A child's stderr, read line by line. */
struct lines {
	int fd;
	char buf[1 << 16];
	size_t len;
};

/* Wait up to timeout_ms for a line holding needle; the time it was read, or -1. */
static int64_t wait_line(struct lines *l, const char *needle, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		char *nl;
		while ((nl = memchr(l->buf, '\n', l->len))) {
			*nl = 0;
			int hit = strstr(l->buf, needle) != NULL;
			size_t used = (size_t)(nl - l->buf) + 1;
			memmove(l->buf, nl + 1, l->len - used);
			l->len -= used;
			if (hit)
				return now_ns();
		}
		int64_t left = (deadline - now_ns()) / 1000000;
		if (left <= 0)
			return -1;
		struct pollfd pfd = { l->fd, POLLIN, 0 };
		if (poll(&pfd, 1, (int)left) <= 0)
			return -1;
		if (l->len == sizeof l->buf)
			l->len = 0; /* a line longer than the buffer: drop it */
		ssize_t n = read(l->fd, l->buf + l->len, sizeof l->buf - l->len);
		if (n <= 0)
			return -1;
		l->len += (size_t)n;
	}
}

/* CPU time the process has used (ns), from /proc/PID/schedstat, or -1. */
static int64_t cpu_ns(pid_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

/* utime + stime of the process in clock ticks, from /proc/PID/stat, or -1. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	unsigned long ut, st;
	if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* Wait until the process has used no CPU for settle_ms (it is idle again). */
static void wait_idle(pid_t pid, int settle_ms, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	int64_t last = cpu_ns(pid);
	while (now_ns() < deadline) {
		sleep_ns((int64_t)settle_ms * 1000000);
		int64_t now = cpu_ns(pid);
		if (now == last)
			return;
		last = now;
	}
}

static void rewrite(const char *path, int i)
{
	char text[32];
	int len = snprintf(text, sizeof text, "%d\n", i);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, text, (size_t)len) != len)
		die(path);
	close(fd);
}

/*
 * 8. --watch with n paths (files w0 ... in dir, named relative to it, so
 * 40,000 of them fit in the argument space): the start until the first
 * generation is ready, then rounds of one change to one of the files, timed
 * until hupwatch logs the reload (with --watch-delay 0) and in hupwatch's
 * CPU time until the reload has settled. A change replaces the file by a
 * rename, as editors and configuration tools save: one atomic change. (A
 * rewrite in place is two, the truncation and the write, and hupwatch may
 * look in between and reload twice.)
 */
static int cmd_watch(int argc, char **argv)
{
	if (argc < 6)
		die("usage: watch LABEL N DIR ROUNDS SELF HUPWATCH");
	const char *label = argv[0];
	int n = atoi(argv[1]);
	const char *dir = argv[2];
	int rounds = atoi(argv[3]);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		die(dir);
	char **hw_argv = calloc((size_t)n * 2 + 12, sizeof *hw_argv);
	char *names = malloc((size_t)n * 12);
	if (!hw_argv || !names)
		die("malloc");
	int k = 0;
	hw_argv[k++] = argv[5];
	hw_argv[k++] = "-w";
	hw_argv[k++] = "0";
	hw_argv[k++] = "--watch-delay";
	hw_argv[k++] = "0";
	char path[4096];
	for (int i = 0; i < n; i++) {
		char *name = names + (size_t)i * 12;
		snprintf(name, 12, "w%d", i);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		rewrite(path, 0);
		hw_argv[k++] = "--watch";
		hw_argv[k++] = name;
	}
	hw_argv[k++] = "--";
	hw_argv[k++] = argv[4];
	hw_argv[k++] = "reloadchild";
	hw_argv[k] = NULL;
	/* 40,000 paths take about 1.3 MB of arguments: room for them. */
	struct rlimit big = { 64 << 20, 64 << 20 };
	setrlimit(RLIMIT_STACK, &big);

	int out;
	struct lines *err = calloc(1, sizeof *err);
	struct rec r;
	int64_t t0 = now_ns();
	pid_t hw = spawn_piped(hw_argv, dir, &out, &err->fd);
	if (read_rec(out, &r, 120000) || r.kind != 'R') {
		fprintf(stderr, "hwbench: watch %d: first generation never ready\n", n);
		kill(hw, SIGKILL);
		reap(hw, 5000);
		return 1;
	}
	printf("%s startup_ns_%d %lld\n", label, n, (long long)(r.ns - t0));
	pid_t serving = r.pid;
	snprintf(path, sizeof path, "%s/w%d", dir, n / 2);
	char tmp[4096 + 8], needle[4096 + 16];
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	snprintf(needle, sizeof needle, "%s changed", path);
	int failed = 0;
	wait_idle(hw, 50, 10000);
	for (int i = 1; i <= rounds && !failed; i++) {
		int64_t c0 = cpu_ns(hw);
		rewrite(tmp, i);
		int64_t t = now_ns();
		if (rename(tmp, path) == -1)
			die("rename");
		int64_t logged = wait_line(err, needle, 60000);
		int64_t stopped = 0;
		pid_t next = 0;
		while (logged > 0 && (!stopped || !next)) {
			if (read_rec(out, &r, 10000))
				break;
			if (r.kind == 'T' && r.pid == serving)
				stopped = r.ns;
			else if (r.kind == 'R')
				next = r.pid;
		}
		if (logged < 0 || !stopped || !next || wait_children(hw, 1, 10000)) {
			fprintf(stderr, "hwbench: watch %d: change %d did not reload\n", n, i);
			failed = 1;
			break;
		}
		wait_idle(hw, 20, 10000);
		printf("%s change_ns_%d %lld\n", label, n, (long long)(logged - t));
		printf("%s change_cpu_ns_%d %lld\n", label, n, (long long)(cpu_ns(hw) - c0));
		serving = next;
	}
	fflush(stdout);
	kill(hw, SIGTERM);
	reap(hw, 10000);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/w%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	return failed;
}

/*
 * 9. A busy watched directory: hupwatch --watch DIR, then count rewrites of
 * a file inside DIR, which never reload (as documented). hupwatch's CPU
 * time (schedstat, and utime + stime in clock ticks) and its voluntary
 * context switches over the rewrites, until it is idle again.
 */
static int cmd_busydir(int argc, char **argv)
{
	if (argc < 5)
		die("usage: busydir LABEL COUNT DIR SELF HUPWATCH");
	const char *label = argv[0];
	int count = atoi(argv[1]);
	const char *dir = argv[2];
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		die(dir);
	char path[4096];
	snprintf(path, sizeof path, "%s/busy", dir);
	rewrite(path, 0);
	char *hw_argv[] = { argv[4], "-w", "0", "--watch-delay", "0", "--watch", (char *)dir,
			    "--", argv[3], "reloadchild", NULL };
	int out;
	struct lines *err = calloc(1, sizeof *err);
	struct rec r;
	pid_t hw = spawn_piped(hw_argv, NULL, &out, &err->fd);
	if (read_rec(out, &r, 10000) || r.kind != 'R') {
		fprintf(stderr, "hwbench: busydir: first generation never ready\n");
		kill(hw, SIGKILL);
		reap(hw, 5000);
		return 1;
	}
	wait_idle(hw, 100, 10000);
	int64_t c0 = cpu_ns(hw);
	long t0 = cpu_ticks(hw);
	long v0 = proc_status(hw, "voluntary_ctxt_switches");
	for (int i = 1; i <= count; i++)
		rewrite(path, i);
	wait_idle(hw, 200, 120000);
	int64_t c1 = cpu_ns(hw);
	long t1 = cpu_ticks(hw);
	long v1 = proc_status(hw, "voluntary_ctxt_switches");
	int reloaded = wait_line(err, " changed", 0) > 0;
	printf("%s busy_cpu_ns %lld\n", label, (long long)(c1 - c0));
	printf("%s busy_ticks %ld\n", label, t1 - t0);
	printf("%s busy_wakeups %ld\n", label, v1 - v0);
	printf("%s busy_reloads %d\n", label, reloaded);
	fflush(stdout);
	kill(hw, SIGTERM);
	reap(hw, 10000);
	unlink(path);
	rmdir(dir);
	return reloaded;
}

/* 7. reload latency: HUP -> the old generation's stop-signal handler. */
static int cmd_reload(int argc, char **argv)
{
	if (argc < 4)
		die("usage: reload LABEL COUNT SELF HUPWATCH ARGS...");
	const char *label = argv[0];
	int count = atoi(argv[1]);
	char *child_argv[] = { argv[2], "reloadchild", NULL };
	char **hw_argv = argv + 3;
	struct rec r;

	/* The child's own start time: spawn -> its ready record. */
	int starts = count < 200 ? count : 200;
	for (int i = 0; i < starts; i++) {
		int fd;
		int64_t t0 = now_ns();
		pid_t pid = spawn(child_argv, &fd);
		if (read_rec(fd, &r, 5000) || r.kind != 'R')
			die("reload child never ready");
		printf("%s child_start_ns %lld\n", label, (long long)(r.ns - t0));
		kill(pid, SIGTERM);
		reap(pid, 5000);
		close(fd);
	}

	int fd;
	pid_t hw = spawn(hw_argv, &fd);
	if (read_rec(fd, &r, 10000) || r.kind != 'R') {
		fprintf(stderr, "hwbench: first generation never ready\n");
		kill(hw, SIGKILL);
		reap(hw, 5000);
		return 1;
	}
	pid_t serving = r.pid;
	print_state(label, "start", hw);
	int failed = 0;
	for (int i = 0; i < count && !failed; i++) {
		int64_t t0 = now_ns();
		kill(hw, SIGHUP);
		int64_t stopped = 0;
		pid_t next = 0;
		while (!stopped || !next) {
			if (read_rec(fd, &r, 5000)) {
				fprintf(stderr, "hwbench: reload %d: no %s within 5 s\n", i + 1,
					stopped ? "new generation" : "stop signal to the old one");
				failed = 1;
				break;
			}
			if (r.kind == 'T' && r.pid == serving)
				stopped = r.ns;
			else if (r.kind == 'R')
				next = r.pid;
			else {
				fprintf(stderr, "hwbench: reload %d: unexpected record %c from %d\n",
					i + 1, r.kind, r.pid);
				failed = 1;
				break;
			}
		}
		if (failed)
			break;
		printf("%s reload_ns %lld\n", label, (long long)(stopped - t0));
		serving = next;
		/* Let the old generation be reaped before the next reload. */
		if (wait_children(hw, 1, 5000)) {
			fprintf(stderr, "hwbench: reload %d: old generation not reaped\n", i + 1);
			failed = 1;
		}
		if (i == 9)
			print_state(label, "warm", hw);
	}
	if (!failed)
		print_state(label, "end", hw);
	kill(hw, SIGTERM);
	int status = reap(hw, 5000);
	if (!failed && (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		fprintf(stderr, "hwbench: hupwatch ended with status %#x after TERM\n", status);
		failed = 1;
	}
	return failed;
}

/*
 * 7b. Reload latency of several reloaders in turn (hupwatch and the floor
 * reloader, benches/floor.c): each runs `hwbench notifychild`, which sends
 * READY=1 at once; the time is from the reload signal to the old child's
 * SIGTERM handler. The next reload of the same reloader waits until the old
 * child is reaped.
 */
static int cmd_reloads(int argc, char **argv)
{
	if (argc < 3)
		die("usage: reloads SETTLE COUNT GROUPS");
	double settle = atof(argv[0]);
	int count = atoi(argv[1]);
	struct group g[16];
	pid_t serving[16]; /* each reloader's serving generation */
	int n = parse_groups(argc - 2, argv + 2, g, 16);
	struct rec r;
	for (int i = 0; i < n; i++) {
		g[i].pid = spawn(g[i].argv, &g[i].fd);
		if (read_rec(g[i].fd, &r, 10000) || r.kind != 'R') {
			fprintf(stderr, "hwbench: %s: first generation never ready\n", g[i].label);
			stop_all(g, n);
			return 1;
		}
		serving[i] = r.pid;
	}
	sleep_ns((int64_t)(settle * 1e9));
	int warmup = count / 10 + 5;
	for (int k = -warmup; k < count; k++) {
		for (int j = 0; j < n; j++) {
			int i = (j + k + warmup) % n;
			int64_t t0 = now_ns(), stopped = 0;
			pid_t next = 0;
			kill(g[i].pid, SIGHUP);
			while (!stopped || !next) {
				if (read_rec(g[i].fd, &r, 5000)) {
					fprintf(stderr, "hwbench: %s: reload %d: no %s within 5 s\n", g[i].label,
						k + warmup, stopped ? "new generation" : "stop signal to the old one");
					stop_all(g, n);
					return 1;
				}
				if (r.kind == 'T' && r.pid == serving[i])
					stopped = r.ns;
				else if (r.kind == 'R')
					next = r.pid;
			}
			serving[i] = next;
			if (wait_children(g[i].pid, 1, 5000)) {
				fprintf(stderr, "hwbench: %s: old generation not reaped\n", g[i].label);
				stop_all(g, n);
				return 1;
			}
			if (k >= 0)
				printf("%s ns %lld\n", g[i].label, (long long)(stopped - t0));
		}
	}
	stop_all(g, n);
	return 0;
}

/*
 * 10. How many generations can drain at once: HUPWATCH... runs `hwbench
 * drainchild` (ready at once, ignores SIGTERM, so every replaced generation
 * keeps draining); reload until a new generation does not become ready
 * within 2 s, or MAX times. Run it under the soft RLIMIT_NOFILE to test.
 */
static int cmd_drains(int argc, char **argv)
{
	if (argc < 3)
		die("usage: drains LABEL MAX HUPWATCH...");
	const char *label = argv[0];
	int max = atoi(argv[1]);
	int fd;
	struct rec r;
	pid_t hw = spawn(argv + 2, &fd);
	if (read_rec(fd, &r, 10000) || r.kind != 'R') {
		fprintf(stderr, "hwbench: drains: first generation never ready\n");
		kill(hw, SIGKILL);
		reap(hw, 5000);
		return 1;
	}
	int ok = 0;
	while (ok < max) {
		kill(hw, SIGHUP);
		int ready = 0;
		while (!read_rec(fd, &r, 2000))
			if (r.kind == 'R') {
				ready = 1;
				break;
			}
		if (!ready)
			break;
		ok++;
	}
	printf("%s draining_generations %d\n", label, ok);
	printf("%s fds %ld\n", label, count_fds(hw));
	printf("%s reached_max %d\n", label, ok == max);
	fflush(stdout);
	/* The generations die with hupwatch (it runs with -k). */
	kill(hw, SIGKILL);
	reap(hw, 5000);
	return 0;
}

/*
 * 5. (runs as the init's child) leave n orphans, time until all are reaped.
 *
 * A middle process forks n children that exit at once, keeps them as
 * zombies, and exits on our word: the kernel re-parents the n zombies to the
 * init in one go, and the init must reap them all.  A zombie answers
 * kill(pid, 0) until it is reaped.  Waiting for orphans that are still
 * running instead would time the kernel's 10,000 exits, not the init.
 */
static int cmd_orphans(int argc, char **argv)
{
	if (argc < 2)
		die("usage: orphans LABEL N");
	const char *label = argv[0];
	int n = atoi(argv[1]);
	pid_t *pids = mmap(NULL, sizeof(pid_t) * n, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pids == MAP_FAILED)
		die("mmap");
	int ready[2], go[2];
	if (pipe(ready) == -1 || pipe(go) == -1)
		die("pipe");
	pid_t mid = fork();
	if (mid == -1)
		die("fork");
	if (mid == 0) {
		close(ready[0]);
		close(go[1]);
		for (int i = 0; i < n; i++) {
			pid_t g = fork();
			if (g == -1)
				_exit(1);
			if (g == 0)
				_exit(0);
			pids[i] = g;
		}
		/* All of them zombies, none reaped (WNOWAIT). */
		for (int i = 0; i < n; i++) {
			siginfo_t si;
			while (waitid(P_PID, pids[i], &si, WEXITED | WNOWAIT) == -1 && errno == EINTR)
				;
		}
		char c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		while (read(go[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("forking the orphans");

	int64_t t0 = now_ns();
	if (write(go[1], &c, 1) != 1)
		die("write");
	int status;
	if (waitpid(mid, &status, 0) != mid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("the middle process failed");
	printf("%s reparent_ns %lld\n", label, (long long)(now_ns() - t0));

	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[n - 1]);
	int sfd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = sfd == -1 ? -1 : read(sfd, buf, sizeof buf - 1);
	if (got > 0) {
		buf[got] = 0;
		char *s = strrchr(buf, ')');
		int ppid = 0;
		if (s)
			sscanf(s + 2, "%*c %d", &ppid);
		printf("%s parent %d\n", label, ppid);
	}
	if (sfd != -1)
		close(sfd);

	/* Inits reap in list order, the last forked last: watch that one
	 * closely, then sweep for any other one still there, and repeat. */
	pid_t watch = pids[n - 1];
	int left = n;
	int64_t last;
	for (;;) {
		while (!(kill(watch, 0) == -1 && errno == ESRCH)) {
			/* Polling gently leaves the CPUs to the init and the kernel. */
			sleep_ns(200000);
			if (now_ns() - t0 > 60LL * 1000000000) {
				printf("%s unreaped %d\n", label, left);
				fflush(stdout);
				return 1;
			}
		}
		last = now_ns();
		for (int i = 0; i < left;) {
			if (kill(pids[i], 0) == -1 && errno == ESRCH)
				pids[i] = pids[--left];
			else
				i++;
		}
		if (left == 0)
			break;
		watch = pids[left - 1];
	}
	printf("%s reaped %d\n", label, n);
	printf("%s init_hwm_kb %ld\n", label, proc_status(1, "VmHWM"));
	printf("%s init_rss_kb %ld\n", label, proc_status(1, "VmRSS"));
	printf("%s reap_ns %lld\n", label, (long long)(last - t0));
	fflush(stdout);
	return 0;
}

static void put_rec(int kind)
{
	int saved = errno;
	struct rec r = { kind, (int32_t)getpid(), now_ns() };
	ssize_t w = write(1, &r, sizeof r);
	(void)w;
	errno = saved;
}

static void on_usr1(int sig)
{
	(void)sig;
	put_rec('S');
}

static void on_term_exit(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_term_ignore(int sig)
{
	(void)sig;
}

static void on_term_stamp(int sig)
{
	(void)sig;
	put_rec('T');
	_exit(0);
}

static void sd_notify_send(const char *msg);

/* READY=1 to $NOTIFY_SOCKET (a path or @abstract), as sd_notify does. */
static void notify_ready(void)
{
	if (!getenv("NOTIFY_SOCKET"))
		die("NOTIFY_SOCKET");
	sd_notify_send("READY=1");
}

static _Noreturn void child_loop(void (*on_term)(int), void (*on_usr)(int), int notify)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	if (on_usr) {
		sa.sa_handler = on_usr;
		sigaction(SIGUSR1, &sa, NULL);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (notify)
		notify_ready();
	put_rec('R');
	for (;;)
		pause();
}

/* ---- issue 12: restarts and the watchdog (hupwatch only) ---------------- */

/* A record stamped `ns` instead of now. */
static void put_rec_at(int kind, int64_t ns)
{
	struct rec r = { kind, (int32_t)getpid(), ns };
	ssize_t w = write(1, &r, sizeof r);
	(void)w;
}

/* Read records until one of `kind` from a pid other than `not` (0: any). */
static int read_kind(int fd, int kind, pid_t not, struct rec *r, int timeout_ms)
{
	for (;;) {
		if (read_rec(fd, r, timeout_ms))
			return -1;
		if (r->kind == kind && r->pid != not)
			return 0;
	}
}

/* utime + stime of pid from /proc/PID/stat, in ms. */
static long cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd != -1)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/* Crash -> next generation serving: the child crashes on our SIGUSR1 (its
 * 'C' stamp), hupwatch restarts it after the first backoff (0.1 s), and the
 * new child's 'R' stamp ends the sample. A fresh hupwatch per sample, so
 * every crash is a first restart. */
static int cmd_crash(int argc, char **argv)
{
	if (argc < 4)
		die("usage: crash LABEL COUNT SELF HUPWATCH ARGS...");
	const char *label = argv[0];
	int count = atoi(argv[1]);
	char **hw_argv = argv + 3;
	struct rec r;
	for (int i = 0; i < count; i++) {
		int fd;
		pid_t hw = spawn(hw_argv, &fd);
		if (read_kind(fd, 'R', 0, &r, 10000))
			die("crash: first generation never ready");
		pid_t first = r.pid;
		kill(first, SIGUSR1);
		if (read_kind(fd, 'C', 0, &r, 5000))
			die("crash: no crash record");
		int64_t crashed = r.ns;
		if (read_kind(fd, 'R', first, &r, 10000))
			die("crash: no restarted generation");
		printf("%s crash_ns %lld\n", label, (long long)(r.ns - crashed));
		kill(hw, SIGTERM);
		reap(hw, 5000);
		close(fd);
	}
	return 0;
}

/* CPU time of pid in µs from /proc/PID/schedstat (its first field, in ns),
 * finer than /proc/PID/stat's ticks; -1 without it. */
static long long cpu_us(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd != -1)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atoll(buf) / 1000;
}

/* A crash loop of SECS seconds: how much CPU hupwatch used, and how many
 * generations it started. */
static int cmd_crashloop(int argc, char **argv)
{
	if (argc < 4)
		die("usage: crashloop LABEL SECS SELF HUPWATCH ARGS...");
	const char *label = argv[0];
	int secs = atoi(argv[1]);
	char **hw_argv = argv + 3;
	int fd;
	int64_t t0 = now_ns();
	pid_t hw = spawn(hw_argv, &fd);
	int starts = 0;
	struct rec r;
	while (now_ns() - t0 < (int64_t)secs * 1000000000) {
		int left = (int)((t0 + (int64_t)secs * 1000000000 - now_ns()) / 1000000);
		if (read_rec(fd, &r, left > 0 ? left : 1) == 0 && r.kind == 'R')
			starts++;
	}
	long cpu = cpu_ms(hw);
	long long fine = cpu_us(hw);
	int64_t wall = now_ns() - t0;
	if (fine >= 0)
		printf("%s crashloop_cpu_us %lld\n", label, fine);
	printf("%s crashloop_secs %d\n", label, secs);
	printf("%s crashloop_starts %d\n", label, starts);
	printf("%s crashloop_cpu_ms %ld\n", label, cpu);
	printf("%s crashloop_wall_ms %lld\n", label, (long long)(wall / 1000000));
	kill(hw, SIGTERM);
	reap(hw, 5000);
	close(fd);
	return cpu < 0;
}

/* Watchdog miss -> hung one replaced: the serving child stops pinging on our
 * SIGUSR1 (its 'P' stamp: the last ping), so its watchdog (WATCHDOG_USEC)
 * runs out at P + interval; the replacement sends READY=1 ('R') and the hung
 * one's SIGABRT handler stamps 'A'. Measured from the miss to each. */
static int cmd_hung(int argc, char **argv)
{
	if (argc < 4)
		die("usage: hung LABEL COUNT SELF HUPWATCH ARGS...");
	const char *label = argv[0];
	int count = atoi(argv[1]);
	char **hw_argv = argv + 3;
	int fd;
	pid_t hw = spawn(hw_argv, &fd);
	struct rec r;
	if (read_kind(fd, 'R', 0, &r, 10000))
		die("hung: first generation never ready");
	pid_t serving = r.pid;
	for (int i = 0; i < count; i++) {
		sleep_ns(50000000);
		kill(serving, SIGUSR1);
		if (read_kind(fd, 'P', 0, &r, 5000))
			die("hung: no last-ping record");
		/* The child's WATCHDOG_USEC, which it reports with its 'P'. */
		int64_t last = r.ns;
		struct rec w;
		if (read_rec(fd, &w, 5000) || w.kind != 'W')
			die("hung: no interval record");
		int64_t missed = last + w.ns;
		int64_t ready = 0, aborted = 0;
		pid_t next = 0;
		while (!ready || !aborted) {
			if (read_rec(fd, &r, 10000))
				die("hung: the hung generation was not replaced");
			if (r.kind == 'R' && r.pid != serving)
				ready = r.ns, next = r.pid;
			else if (r.kind == 'A' && r.pid == serving)
				aborted = r.ns;
		}
		printf("%s hung_ready_ns %lld\n", label, (long long)(ready - missed));
		printf("%s hung_abort_ns %lld\n", label, (long long)(aborted - missed));
		serving = next;
	}
	kill(hw, SIGTERM);
	int status = reap(hw, 5000);
	close(fd);
	return status == -1 || !WIFEXITED(status);
}

static void on_usr1_crash(int sig)
{
	(void)sig;
	put_rec('C');
	_exit(1);
}

static volatile sig_atomic_t hang_now;

static void on_usr1_hang(int sig)
{
	(void)sig;
	hang_now = 1;
}

static void on_abrt_stamp(int sig)
{
	(void)sig;
	put_rec('A');
	_exit(0);
}

/* One datagram to $NOTIFY_SOCKET (a path or @abstract). */
static void sd_notify_send(const char *msg)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (!name)
		return;
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	size_t len = strlen(name);
	if (len >= sizeof a.sun_path)
		return;
	memcpy(a.sun_path, name, len);
	if (a.sun_path[0] == '@')
		a.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

/* The watchdog child: READY=1, then WATCHDOG=1 every 10 ms until SIGUSR1. */
static _Noreturn void watchdog_child(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1_hang;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_abrt_stamp;
	sigaction(SIGABRT, &sa, NULL);
	sa.sa_handler = on_term_exit;
	sigaction(SIGTERM, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	const char *usec = getenv("WATCHDOG_USEC");
	int64_t interval = usec ? atoll(usec) * 1000 : 0;
	int64_t ready = now_ns();
	sd_notify_send("READY=1");
	put_rec_at('R', ready);
	int64_t last = 0;
	while (!hang_now) {
		sd_notify_send("WATCHDOG=1");
		last = now_ns();
		sleep_ns(10000000);
	}
	put_rec_at('P', last);
	put_rec_at('W', interval);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: hwbench startup|rest|forward|reload|reloads|drains|orphans|watch|busydir|sigecho|reloadchild|notifychild|drainchild ...\n");
		return 2;
	}
	const char *cmd = argv[1];
	argc -= 2;
	argv += 2;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	/* Descriptors our caller leaked must not reach the inits we measure. */
	close_range(3, ~0U, 0);
	if (!strcmp(cmd, "startup"))
		return cmd_startup(argc, argv);
	if (!strcmp(cmd, "rest"))
		return cmd_rest(argc, argv);
	if (!strcmp(cmd, "forward"))
		return cmd_forward(argc, argv);
	if (!strcmp(cmd, "reload"))
		return cmd_reload(argc, argv);
	if (!strcmp(cmd, "reloads"))
		return cmd_reloads(argc, argv);
	if (!strcmp(cmd, "drains"))
		return cmd_drains(argc, argv);
	if (!strcmp(cmd, "orphans"))
		return cmd_orphans(argc, argv);
	if (!strcmp(cmd, "watch"))
		return cmd_watch(argc, argv);
	if (!strcmp(cmd, "busydir"))
		return cmd_busydir(argc, argv);
	if (!strcmp(cmd, "crash"))
		return cmd_crash(argc, argv);
	if (!strcmp(cmd, "crashloop"))
		return cmd_crashloop(argc, argv);
	if (!strcmp(cmd, "hung"))
		return cmd_hung(argc, argv);
	if (!strcmp(cmd, "crashchild"))
		child_loop(on_term_exit, on_usr1_crash, 0);
	if (!strcmp(cmd, "crashnow")) {
		put_rec('R');
		return 1;
	}
	if (!strcmp(cmd, "watchdogchild"))
		watchdog_child();
	if (!strcmp(cmd, "sigecho"))
		child_loop(on_term_exit, on_usr1, 0);
	if (!strcmp(cmd, "reloadchild"))
		child_loop(on_term_stamp, NULL, 0);
	if (!strcmp(cmd, "notifychild"))
		child_loop(on_term_stamp, NULL, 1);
	if (!strcmp(cmd, "drainchild"))
		child_loop(on_term_ignore, NULL, 1);
	fprintf(stderr, "hwbench: unknown command %s\n", cmd);
	return 2;
}
