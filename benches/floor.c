/*
 * floor: the least a reloader can do, as the floor under hupwatch's reload
 * time in benches/compare.sh.
 *
 *   floor fork|vfork COMMAND [ARG]...
 *
 * It starts COMMAND with NOTIFY_SOCKET set and waits for READY=1 from it.
 * On SIGHUP it starts a new copy (fork or vfork, then execve of the path as
 * given), waits for READY=1 from that copy's pid (SCM_CREDENTIALS) and only
 * then sends SIGTERM to the old copy; SIGCHLD reaps. SIGTERM or SIGINT go
 * to the serving copy, and floor exits once it has exited. The child only
 * restores the signal mask before execve.
 *
 * Everything hupwatch does besides (a process group and a notify socket per
 * generation, the exec-error pipe, descriptors, the working directory, a
 * PATH search, LISTEN_PID, logging, the state machine) is what the
 * benchmark's ratio puts a price on.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static sigset_t handled, caller_mask;
static char **child_argv, **child_env;
static int use_vfork;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static pid_t start(void)
{
	pid_t pid = use_vfork ? vfork() : fork();
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &caller_mask, NULL);
		execve(child_argv[0], child_argv, child_env);
		_exit(127);
	}
	if (pid == -1)
		die("fork");
	return pid;
}

/* Blocks until `pid` sends READY=1 on the notify socket. */
static void wait_ready(int sock, pid_t pid)
{
	for (;;) {
		char buf[256];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(struct ucred))];
		} control;
		struct iovec iov = { buf, sizeof buf - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = &control, .msg_controllen = sizeof control };
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0)
			die("recvmsg");
		buf[n] = 0;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		if (!c || c->cmsg_type != SCM_CREDENTIALS)
			continue;
		struct ucred cred;
		memcpy(&cred, CMSG_DATA(c), sizeof cred);
		if (cred.pid == pid && strstr(buf, "READY=1"))
			return;
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "fork") && strcmp(argv[1], "vfork"))) {
		fprintf(stderr, "usage: floor fork|vfork COMMAND [ARG]...\n");
		return 2;
	}
	use_vfork = argv[1][0] == 'v';
	child_argv = argv + 2;

	sigemptyset(&handled);
	sigaddset(&handled, SIGHUP);
	sigaddset(&handled, SIGCHLD);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigprocmask(SIG_BLOCK, &handled, &caller_mask);

	char dir[] = "/tmp/floor-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify", dir);
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int on = 1;
	if (sock == -1 || bind(sock, (struct sockaddr *)&addr, sizeof addr) == -1 ||
	    setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == -1)
		die("notify socket");

	size_t n = 0;
	while (environ[n])
		n++;
	child_env = calloc(n + 2, sizeof *child_env);
	if (!child_env)
		die("calloc");
	memcpy(child_env, environ, n * sizeof *child_env);
	char var[sizeof addr.sun_path + 16];
	snprintf(var, sizeof var, "NOTIFY_SOCKET=%s", addr.sun_path);
	child_env[n] = var;

	pid_t serving = start();
	wait_ready(sock, serving);
	int status = 0, stopping = 0;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&handled, &si);
		if (sig == SIGHUP && !stopping) {
			pid_t next = start();
			wait_ready(sock, next);
			kill(serving, SIGTERM);
			serving = next;
		} else if (sig == SIGTERM || sig == SIGINT) {
			stopping = 1;
			kill(serving, sig);
		} else if (sig == SIGCHLD) {
			pid_t pid;
			int st;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				if (pid == serving) {
					status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
					unlink(addr.sun_path);
					rmdir(dir);
					return status;
				}
		}
	}
}
