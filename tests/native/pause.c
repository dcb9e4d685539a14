/* The sandbox ("pause") program of the test pod image, built natively and
 * statically: it holds a pod's namespaces for runc pods, reaps orphans,
 * and exits at SIGTERM or SIGINT. wasmpod's shim never runs it (a wasmpod
 * sandbox runs no native process); it is here because containerd's CRI
 * needs a sandbox image and these machines have no internet to pull one. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { _exit(128 + sig); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
