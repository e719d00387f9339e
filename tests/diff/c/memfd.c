/* memfd_create (MFD_CLOEXEC, MFD_ALLOW_SEALING, bad flags and names) and
 * file seals through fcntl F_ADD_SEALS / F_GET_SEALS: what each seal
 * forbids; a shared mapping of a memfd. */
#include "common.h"
#include <sys/mman.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#define MFD_ALLOW_SEALING 2U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif

static int mfd(const char *name, unsigned flags) { return syscall(SYS_memfd_create, name, flags); }

int main(int argc, char **argv)
{
	scratch(argc, argv);
	int fd = mfd("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	check(fd >= 0, "memfd_create");
	check(fcntl(fd, F_GETFD) == FD_CLOEXEC, "MFD_CLOEXEC sets FD_CLOEXEC");
	check((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "opened read-write");
	struct stat st;
	check(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0, "an empty regular file");
	check(write(fd, "hello world", 11) == 11, "write");
	char buf[32] = {0};
	check(pread(fd, buf, sizeof buf, 0) == 11 && memcmp(buf, "hello world", 11) == 0, "read back");
	check(ftruncate(fd, 4096) == 0, "ftruncate to a page");
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(m != MAP_FAILED && memcmp(m, "hello", 5) == 0, "shared mapping shows the data");
	if (m != MAP_FAILED) {
		m[0] = 'J';
		check(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "Jello", 5) == 0, "a store through the mapping is in the file");
		munmap(m, 4096);
	}

	check(fcntl(fd, F_GET_SEALS) == 0, "no seals yet");
	errno = 0;
	expect_err(fcntl(fd, F_ADD_SEALS, 0x1000), EINVAL, "F_ADD_SEALS unknown bit");
	check(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "seal shrink and grow");
	check(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "F_GET_SEALS");
	expect_err(ftruncate(fd, 100), EPERM, "shrink sealed");
	expect_err(ftruncate(fd, 8192), EPERM, "grow sealed");
	check(pwrite(fd, "x", 1, 10) == 1, "write inside still allowed");
	expect_err(pwrite(fd, "x", 1, 4096), EPERM, "write past the end sealed");
	check(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0, "seal writes");
	expect_err(pwrite(fd, "x", 1, 0), EPERM, "write sealed");
	expect_err((long)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EPERM, "writable shared mapping sealed");
	check(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) == 0, "seal the seals");
	expect_err(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), EPERM, "no more seals");
	check(pread(fd, buf, 5, 0) == 5, "reads still work");
	close(fd);

	/* Without MFD_ALLOW_SEALING the seal seal is set from the start. */
	fd = mfd("plain", 0);
	check(fd >= 0 && fcntl(fd, F_GETFD) == 0, "memfd without MFD_CLOEXEC");
	check(fcntl(fd, F_GET_SEALS) == F_SEAL_SEAL, "F_SEAL_SEAL set without MFD_ALLOW_SEALING");
	expect_err(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM, "F_ADD_SEALS refused");
	close(fd);

	/* Names and flags. */
	check((fd = mfd("", 0)) >= 0, "empty name");
	close(fd);
	char name[300];
	memset(name, 'a', sizeof name);
	name[249] = 0;
	check((fd = mfd(name, 0)) >= 0, "249-byte name");
	close(fd);
	name[249] = 'a';
	name[250] = 0;
	expect_err(mfd(name, 0), EINVAL, "250-byte name");
	expect_err(mfd("x", 0x100), EINVAL, "unknown flag");
	expect_err(syscall(SYS_memfd_create, (void *)8, 0), EFAULT, "bad name pointer");
	int f = open("reg", O_RDWR | O_CREAT, 0644);
	expect_err(fcntl(f, F_GET_SEALS), EINVAL, "F_GET_SEALS on a regular file");
	expect_err(fcntl(f, F_ADD_SEALS, F_SEAL_SEAL), EINVAL, "F_ADD_SEALS on a regular file");
	close(f);
	return finish();
}
