/* true: exits 0 at once; measures process (or container, or VM) startup and teardown. */
int main(void) { return 0; }
