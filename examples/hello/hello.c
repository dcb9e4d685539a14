// The smallest useful workload: greet, show the arguments and one granted
// environment variable, and exit 0.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *who = getenv("GREETING_NAME");
  printf("Hello from WebAssembly, %s!\n", who ? who : "world");
  for (int i = 1; i < argc; i++)
    printf("  arg %d: %s\n", i, argv[i]);
  return 0;
}
