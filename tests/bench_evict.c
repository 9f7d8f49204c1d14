/* Evicts files from the page cache (POSIX_FADV_DONTNEED over every regular
 * file under the given paths), so benchmarks can measure cold reads
 * without root's drop_caches. Clean pages only: sync first. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

static long evicted;

static int evict(const char *path, const struct stat *st, int type,
		 struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	fdatasync(fd);
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
		evicted++;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (nftw(argv[i], evict, 64, FTW_PHYS)) {
			perror(argv[i]);
			return 1;
		}
	fprintf(stderr, "evicted %ld files\n", evicted);
	return 0;
}
