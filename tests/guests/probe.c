// A guest that probes what the sandbox lets it do. argv[1] picks the probe;
// every probe prints what it observed so tests can assert on it.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int fail(const char *what, const char *path) {
  printf("%s %s failed: %s\n", what, path, strerror(errno));
  return 1;
}

__attribute__((noinline)) static int do_crash(int depth) {
  if (depth > 0)
    __builtin_trap();
  return depth;
}

__attribute__((noinline)) static void spin_forever(void) {
  volatile unsigned long n = 0;
  for (;;)
    n++;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("usage: probe args|env|exit N|cat F|write F TEXT|ls D|swap L D OLD TARGET|openmany F|stdin|trap|alloc MIB [S]|spin|sleep S|flap F S|fsops OP...\n");
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "args")) {
    for (int i = 0; i < argc; i++)
      printf("argv[%d]=%s\n", i, argv[i]);
    return 0;
  }
  if (!strcmp(cmd, "env")) {
    for (char **e = environ; e && *e; e++)
      printf("%s\n", *e);
    printf("env-end\n");
    return 0;
  }
  if (!strcmp(cmd, "exit") && argc > 2) {
    printf("exiting with %s\n", argv[2]);
    return atoi(argv[2]);
  }
  if (!strcmp(cmd, "cat") && argc > 2) {
    FILE *f = fopen(argv[2], "r");
    if (!f)
      return fail("open", argv[2]);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
      fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
  }
  if (!strcmp(cmd, "write") && argc > 3) {
    FILE *f = fopen(argv[2], "w");
    if (!f)
      return fail("open", argv[2]);
    if (fputs(argv[3], f) < 0 || fclose(f) != 0)
      return fail("write", argv[2]);
    printf("wrote %s\n", argv[2]);
    return 0;
  }
  if (!strcmp(cmd, "ls") && argc > 2) {
    DIR *d = opendir(argv[2]);
    if (!d)
      return fail("opendir", argv[2]);
    struct dirent *e;
    while ((e = readdir(d)))
      printf("%s\n", e->d_name);
    closedir(d);
    return 0;
  }
  if (!strcmp(cmd, "swap") && argc > 5) {
    // swap LIST DIR OLD TARGET: list LIST; then, unless OLD exists (a
    // second run), move DIR to OLD, leave a symlink to TARGET where DIR
    // was and exit 3. What an attacker does to a directory the host
    // opens by path.
    DIR *d = opendir(argv[2]);
    if (!d)
      return fail("opendir", argv[2]);
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.')
        printf("%s: %s\n", argv[2], e->d_name);
    closedir(d);
    if (access(argv[4], F_OK) == 0)
      return 0;
    if (rename(argv[3], argv[4]) != 0)
      return fail("rename", argv[3]);
    if (symlink(argv[5], argv[3]) != 0)
      return fail("symlink", argv[3]);
    printf("swapped %s for a symlink to %s\n", argv[3], argv[5]);
    return 3;
  }
  if (!strcmp(cmd, "openmany") && argc > 2) {
    // Opens F again and again without closing it, and says how many
    // opens worked before the first failure (at most 100000).
    int n = 0;
    for (; n < 100000; n++)
      if (!fopen(argv[2], "r"))
        break;
    printf("opened %d, then: %s\n", n, n < 100000 ? strerror(errno) : "stopped");
    return 0;
  }
  if (!strcmp(cmd, "fsops")) {
    // fsops OP...: runs each OP in turn and prints one line for it, never
    // stopping early. OP is mkdir:P, write:P:TEXT (create or truncate),
    // read:P, rename:FROM:TO, symlink:TARGET:LINK, link:FROM:TO (hard),
    // unlink:P, rmdir:P or ls:P. A line is `OP ok`, `OP ok: DATA` (read
    // prints the bytes, ls the names, both escaped) or `OP err: REASON`.
    if (argc - 2 > 64) {
      printf("fsops: at most 64 ops\n");
      return 2;
    }
    for (int i = 2; i < argc; i++) {
      char op[1024];
      if (strlen(argv[i]) >= sizeof op) {
        printf("%.32s... err: too long\n", argv[i]);
        continue;
      }
      strcpy(op, argv[i]);
      // name:a[:b], where b is the rest (so TEXT may hold colons).
      char *a = strchr(op, ':');
      char *b = NULL;
      if (a) {
        *a++ = '\0';
        b = strchr(a, ':');
        if (b)
          *b++ = '\0';
      }
      char data[1024];
      size_t len = 0;
      int r = -1;
      errno = 0;
      if (!a) {
        errno = EINVAL;
      } else if (!strcmp(op, "mkdir") && !b) {
        r = mkdir(a, 0755);
      } else if (!strcmp(op, "write") && b) {
        FILE *f = fopen(a, "w");
        if (f) {
          int bad = fputs(b, f) < 0;
          r = (fclose(f) != 0 || bad) ? -1 : 0;
        }
      } else if (!strcmp(op, "read") && !b) {
        FILE *f = fopen(a, "r");
        if (f) {
          size_t n = fread(data, 1, 256, f);
          r = ferror(f) ? -1 : 0;
          fclose(f);
          len = n;
        }
      } else if (!strcmp(op, "rename") && b) {
        r = rename(a, b);
      } else if (!strcmp(op, "symlink") && b) {
        r = symlink(a, b);
      } else if (!strcmp(op, "link") && b) {
        r = link(a, b);
      } else if (!strcmp(op, "unlink") && !b) {
        r = unlink(a);
      } else if (!strcmp(op, "rmdir") && !b) {
        r = rmdir(a);
      } else if (!strcmp(op, "ls") && !b) {
        DIR *d = opendir(a);
        if (d) {
          struct dirent *e;
          // Names, space-separated, at most 64 and what fits in data.
          for (int k = 0; k < 64 && (e = readdir(d)); k++) {
            size_t m = strlen(e->d_name);
            if (len + m + 1 >= 256)
              break;
            if (len)
              data[len++] = ' ';
            memcpy(data + len, e->d_name, m);
            len += m;
          }
          r = 0;
          closedir(d);
        }
      } else {
        errno = EINVAL;
      }
      if (r != 0) {
        printf("%s err: %s\n", argv[i], strerror(errno));
        continue;
      }
      if (strcmp(op, "read") && strcmp(op, "ls")) {
        printf("%s ok\n", argv[i]);
        continue;
      }
      printf("%s ok: ", argv[i]);
      for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)data[k];
        if (c >= 0x20 && c < 0x7f && c != '\\')
          putchar(c);
        else
          printf("\\x%02x", c);
      }
      putchar('\n');
    }
    return 0;
  }
  if (!strcmp(cmd, "stdin")) {
    // Announce readiness first: a test reads this line before it writes,
    // which proves stdout is streamed rather than held until exit.
    printf("ready\n");
    fflush(stdout);
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
      printf("got: %s", line);
      fflush(stdout);
    }
    printf("stdin closed\n");
    return 0;
  }
  if (!strcmp(cmd, "trap")) {
    printf("about to trap\n");
    fflush(stdout);
    return do_crash(argc);
  }
  if (!strcmp(cmd, "alloc") && argc > 2) {
    // Keep every block reachable and read it back, so the compiler cannot
    // drop the allocations.
    static char *blocks[4096];
    int want = atoi(argv[2]);
    int got = 0;
    unsigned long sum = 0;
    for (; got < want && got < 4096; got++) {
      blocks[got] = malloc(1 << 20);
      if (!blocks[got])
        break;
      memset(blocks[got], got, 1 << 20);
      sum += (unsigned char)blocks[got][got];
    }
    if (sum == 1)
      printf("unlikely\n");
    // "alloc MIB SECONDS" keeps the memory for a while (for metrics).
    if (argc > 3) {
      printf("allocated %d MiB of %d, holding\n", got, want);
      fflush(stdout);
      sleep(atoi(argv[3]));
      return 0;
    }
    printf("allocated %d MiB of %d\n", got, want);
    return 0;
  }
  if (!strcmp(cmd, "spin")) {
    printf("spinning\n");
    fflush(stdout);
    spin_forever();
  }
  if (!strcmp(cmd, "sleep") && argc > 2) {
    printf("sleeping\n");
    fflush(stdout);
    sleep(atoi(argv[2]));
    printf("woke\n");
    return 0;
  }
  if (!strcmp(cmd, "flap") && argc > 3) {
    // Healthy while F exists: write it, keep it S seconds, remove it, and
    // stay up (an exec liveness probe `probe cat F` then starts failing).
    FILE *f = fopen(argv[2], "w");
    if (!f || fputs("ok\n", f) < 0 || fclose(f) != 0)
      return fail("write", argv[2]);
    printf("healthy for %s s\n", argv[3]);
    fflush(stdout);
    sleep(atoi(argv[3]));
    if (unlink(argv[2]) != 0)
      return fail("unlink", argv[2]);
    printf("unhealthy now\n");
    fflush(stdout);
    for (;;)
      sleep(3600);
  }
  fprintf(stderr, "probe: unknown probe %s\n", cmd);
  return 2;
}
