/* kafka_mock.c — a test Kafka cluster: librdkafka's mock cluster (real Kafka
 * protocol on loopback ports) with a multi-partition topic, for kcat, the
 * relay and the Kafka source in tests.
 *
 * usage: kafka_mock [--brokers N] [--topic NAME] [--partitions P]
 * Prints "BOOTSTRAP host:port,…" on stdout once ready, then reads commands
 * on stdin, one a line, answering "OK" or "ERR …" to each:
 *   down N | up N     broker N (1..brokers) refuses / accepts connections
 *   down all | up all every broker
 *   rtt N MS          broker N answers MS milliseconds late
 *   topic NAME P      creates another topic with P partitions
 *   quit
 * Exits when stdin closes, on quit, SIGTERM or SIGINT. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int set_brokers(rd_kafka_mock_cluster_t *mc, int nbrokers, const char *which, int up)
{
    int lo = 1, hi = nbrokers;
    if (strcmp(which, "all") != 0) {
        lo = hi = atoi(which);
        if (lo < 1 || lo > nbrokers)
            return -1;
    }
    for (int b = lo; b <= hi; b++) {
        rd_kafka_resp_err_t e = up ? rd_kafka_mock_broker_set_up(mc, b) : rd_kafka_mock_broker_set_down(mc, b);
        if (e)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int nbrokers = 3, partitions = 4;
    const char *topic = "proximity.public.businesses";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--brokers") == 0)
            nbrokers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--topic") == 0)
            topic = argv[i + 1];
        else if (strcmp(argv[i], "--partitions") == 0)
            partitions = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "kafka_mock: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (nbrokers < 1 || partitions < 1) {
        fprintf(stderr, "kafka_mock: need at least one broker and one partition\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    int repl = nbrokers < 3 ? nbrokers : 3;
    if (rd_kafka_mock_topic_create(mc, topic, partitions, repl)) {
        fprintf(stderr, "kafka_mock: cannot create topic %s\n", topic);
        return 1;
    }
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    char line[256];
    size_t have = 0;
    while (!stopping) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t n = read(0, line + have, sizeof line - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        line[have] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            char cmd[32] = "", a1[128] = "", a2[32] = "";
            int nf = sscanf(line, "%31s %127s %31s", cmd, a1, a2);
            int ok = -1;
            if (nf >= 1 && strcmp(cmd, "quit") == 0)
                stopping = 1, ok = 0;
            else if (nf == 2 && (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0))
                ok = set_brokers(mc, nbrokers, a1, cmd[0] == 'u');
            else if (nf == 3 && strcmp(cmd, "rtt") == 0)
                ok = rd_kafka_mock_broker_set_rtt(mc, atoi(a1), atoi(a2)) ? -1 : 0;
            else if (nf == 3 && strcmp(cmd, "topic") == 0)
                ok = rd_kafka_mock_topic_create(mc, a1, atoi(a2), repl) ? -1 : 0;
            printf(ok == 0 ? "OK\n" : "ERR %s\n", line);
            fflush(stdout);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, have - used + 1);
            have -= used;
        }
        if (have == sizeof line - 1)
            have = 0; /* an overlong line: dropped */
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
