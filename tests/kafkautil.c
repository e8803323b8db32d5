/* kafkautil.c — the mock cluster process and kcat for integration tests. */
#include "kafkautil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int ku_kafka_start(ku_kafka_t *k, const char *topic, int partitions)
{
    int to[2], from[2];
    char bin[512], parts[16];
    const char *builddir = getenv("top_builddir");
    memset(k, 0, sizeof *k);
    snprintf(bin, sizeof bin, "%s/tests/kafka_mock", builddir ? builddir : ".");
    snprintf(parts, sizeof parts, "%d", partitions);
    snprintf(k->topic, sizeof k->topic, "%s", topic);
    if (pipe(to) < 0 || pipe(from) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(bin, bin, "--brokers", "3", "--topic", topic, "--partitions", parts, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    k->pid = pid;
    k->in = fdopen(to[1], "w");
    k->out = fdopen(from[0], "r");
    char line[600];
    if (!fgets(line, sizeof line, k->out) || strncmp(line, "BOOTSTRAP ", 10) != 0) {
        ku_kafka_stop(k);
        return -1;
    }
    line[strcspn(line, "\n")] = '\0';
    snprintf(k->bootstrap, sizeof k->bootstrap, "%.500s", line + 10);
    return 0;
}

int ku_kafka_cmd(ku_kafka_t *k, const char *cmd)
{
    char line[256];
    if (fprintf(k->in, "%s\n", cmd) < 0 || fflush(k->in) != 0)
        return -1;
    if (!fgets(line, sizeof line, k->out))
        return -1;
    return strncmp(line, "OK", 2) == 0 ? 0 : -1;
}

void ku_kafka_stop(ku_kafka_t *k)
{
    if (k->in)
        fclose(k->in); /* stdin closed: it exits */
    if (k->out)
        fclose(k->out);
    if (k->pid > 0) {
        int st;
        for (int i = 0; i < 100; i++) {
            if (waitpid(k->pid, &st, WNOHANG) == k->pid) {
                k->pid = 0;
                break;
            }
            usleep(50000);
        }
        if (k->pid > 0) {
            kill(k->pid, SIGKILL);
            waitpid(k->pid, &st, 0);
        }
    }
    memset(k, 0, sizeof *k);
}

bool ku_have_kcat(void)
{
    return system("command -v kcat >/dev/null 2>&1") == 0;
}

int ku_kcat_produce(const ku_kafka_t *k, int partition, const char *lines)
{
    char cmd[1024], part[32] = "";
    if (partition >= 0)
        snprintf(part, sizeof part, "-p %d", partition);
    snprintf(cmd, sizeof cmd, "kcat -P -b '%s' -t '%s' %s -K '\t' -Z -X enable.idempotence=true -q",
             k->bootstrap, k->topic, part);
    FILE *p = popen(cmd, "w");
    if (!p)
        return -1;
    fputs(lines, p);
    return pclose(p) == 0 ? 0 : -1;
}

json_t *ku_kcat_consume(const ku_kafka_t *k)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "kcat -C -b '%s' -t '%s' -o beginning -e -J -q", k->bootstrap,
             k->topic);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, p) > 0) {
        json_t *rec = json_loads(line, 0, NULL);
        if (rec)
            json_array_append_new(arr, rec);
    }
    free(line);
    if (pclose(p) != 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
