/* main.c — proximityd start-up. */
int main(void)
{
    return 0;
}
