/* hello: says the greeting configured in /etc/hello.conf (or the file named
 * as its argument). Built static, so it runs on an image with no libc. */
#include <stdio.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/etc/hello.conf";
    char line[256], greeting[256] = "Hello";
    FILE *conf = fopen(path, "r");
    if (conf) {
        while (fgets(line, sizeof line, conf))
            if (sscanf(line, "greeting = %255[^\n]", greeting) == 1) break;
        fclose(conf);
    }
    printf("%s, from a static binary on BusyBox\n", greeting);
    return 0;
}
