/* 6. Config load with many agents: config_load of a file of N builtin
 * agents (names shuffled, priorities repeating, so neither the registry's
 * order nor its lookups ride on the file's order), and the real
 * `intentus agents -c FILE` (load plus listing, stdout to /dev/null), for
 * 5,000 to 40,000 agents. Linear is about twice the time for twice the
 * agents; the per-agent figure should stay flat. Beside them, in the same
 * run, the reference loading the same file into its AgentRegistry
 * (bench/ref_registry.py, PYTHONPATH from $INTENTUS_REFERENCE, default
 * ../../shared/reference/python from bench/), and the ratio. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/config.h"

static int
write_config(const char *path, size_t n)
{
    FILE *f = fopen(path, "w");
    size_t *idx = malloc(n * sizeof(*idx));
    uint64_t x = 12345;
    int rc = -1;

    if (f == NULL || idx == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j, t;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        j = (size_t)((x >> 33) % (i + 1));
        t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    fputs("{\"agents\": [\n", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "%s  {\"name\": \"agent-%06zu\", \"builtin\": \"echo\", \"intents\": "
                "[\"bench.i%zu\"], \"nodePriority\": %zu}",
                i ? ",\n" : "", idx[i], idx[i] % 100, idx[i] % 7);
    fputs("\n]}\n", f);
    rc = ferror(f) ? -1 : 0;
out:
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    free(idx);
    return rc;
}

/* The intentus binary next to this one's build directory. */
static int
intentus_path(char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0)
        return -1;
    self[n] = '\0';
    slash = strrchr(self, '/'); /* .../build/bench/intentus-bench */
    if (slash == NULL)
        return -1;
    *slash = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (strlen(self) + sizeof("/intentus") > size)
        return -1;
    strcpy(out, self);
    strcat(out, "/intentus");
    return access(out, X_OK);
}

/* Seconds for `intentus agents -c path`, or -1. */
static double
time_agents_cmd(const char *bin, const char *path)
{
    int64_t t0 = bench_now_ns();
    int st;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(bin, bin, "agents", "-c", path, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* Seconds the reference takes to load path into its registry, or -1 (no
 * python3, or the reference cannot be imported). */
static double
time_reference(const char *path)
{
    const char *ref = getenv("INTENTUS_REFERENCE");
    char cmd[2048], line[64] = "";
    double secs = -1;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s' python3 ref_registry.py '%s' 2>/dev/null",
             ref != NULL && ref[0] ? ref : "../../shared/reference/python", path);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    if (fgets(line, sizeof(line), p) == NULL || sscanf(line, "%lf", &secs) != 1)
        secs = -1;
    if (pclose(p) != 0)
        secs = -1;
    return secs;
}

int
bench_config_load(struct bench *b)
{
    static const size_t sizes[] = { 5000, 10000, 20000, 40000 };
    char dir[512], path[600], bin[PATH_MAX], name[96];
    bool have_bin = intentus_path(bin, sizeof(bin)) == 0;
    int reps = b->reps_slow;

    if (bench_mkdir(b, "config", dir, sizeof(dir)) != 0)
        return -1;
    if (!have_bin)
        bench_note(b, "config: no intentus binary next to the bench; `intentus agents` not timed");
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = b->quick ? sizes[k] / 10 : sizes[k];
        double load[BENCH_MAX_REPS], per[BENCH_MAX_REPS], cmd[BENCH_MAX_REPS];
        double ref[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS];
        bool have_ref = true;
        struct bench_fig *f;

        snprintf(path, sizeof(path), "%s/agents-%zu.json", dir, n);
        if (write_config(path, n) != 0) {
            fprintf(stderr, "bench: cannot write %s\n", path);
            return -1;
        }
        for (int r = 0; r < reps; r++) {
            struct intentus_err err = { 0 };
            int64_t t0 = bench_now_ns();
            struct config *cfg = config_load(path, &err);
            load[r] = (double)(bench_now_ns() - t0) / 1e9;
            if (cfg == NULL || registry_count(cfg->registry) != n) {
                fprintf(stderr, "bench: config load of %s: %s\n", path, err.msg);
                config_free(cfg);
                return -1;
            }
            config_free(cfg);
            per[r] = load[r] * 1e6 / (double)n;
            if (have_bin && (cmd[r] = time_agents_cmd(bin, path)) < 0) {
                fprintf(stderr, "bench: intentus agents -c %s failed\n", path);
                return -1;
            }
            /* Interleaved with intentus's, so both see the same machine. */
            if (have_ref && (ref[r] = time_reference(path)) < 0)
                have_ref = false;
            if (have_ref)
                ratio[r] = ref[r] / load[r];
        }
        snprintf(name, sizeof(name), "config_load, %zu agents", n);
        f = bench_add(b, "config", name, "s", load, reps, false);
        if (f != NULL && k == 0)
            snprintf(f->note, sizeof(f->note),
                     "file of builtin agents, names shuffled; was 0.11/0.39/2.0/7.1 s for "
                     "5k/10k/20k/40k (quadratic)");
        snprintf(name, sizeof(name), "config_load, %zu agents: per agent", n);
        bench_add(b, "config", name, "us/agent", per, reps, false);
        if (have_bin) {
            snprintf(name, sizeof(name), "intentus agents -c FILE, %zu agents", n);
            bench_add(b, "config", name, "s", cmd, reps, false);
        }
        if (have_ref) {
            snprintf(name, sizeof(name), "reference AgentRegistry load, %zu agents", n);
            bench_add(b, "config", name, "s", ref, reps, false);
            snprintf(name, sizeof(name), "config_load vs the reference, %zu agents", n);
            f = bench_add(b, "config", name, "x faster", ratio, reps, true);
            if (f != NULL && k == 0)
                snprintf(f->note, sizeof(f->note),
                         "reference time / intentus time, same file, same run (json.load + "
                         "AgentDefinition + register)");
        } else if (k == 0) {
            bench_note(b, "config: the reference (python3, $INTENTUS_REFERENCE) could not be "
                          "run; no reference rows");
        }
    }
    bench_rmtree(dir);
    return 0;
}
