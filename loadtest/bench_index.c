/* bench_index.c — placeholder */
int main(void) { return 0; }
