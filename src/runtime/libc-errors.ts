// errno values as node's fs errors show them: a libc failure throws an Error with code = errno
// name, errno, syscall and path, so callers handle FFI and node:fs failures alike.

const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  7: ["E2BIG", "argument list too long"],
  8: ["ENOEXEC", "exec format error"],
  9: ["EBADF", "bad file descriptor"],
  10: ["ECHILD", "no child processes"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  15: ["ENOTBLK", "block device required"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  18: ["EXDEV", "invalid cross-device link"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  24: ["EMFILE", "too many open files"],
  25: ["ENOTTY", "inappropriate ioctl for device"],
  26: ["ETXTBSY", "text file busy"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  30: ["EROFS", "read-only file system"],
  31: ["EMLINK", "too many links"],
  32: ["EPIPE", "broken pipe"],
  34: ["ERANGE", "numerical result out of range"],
  36: ["ENAMETOOLONG", "file name too long"],
  38: ["ENOSYS", "function not implemented"],
  39: ["ENOTEMPTY", "directory not empty"],
  40: ["ELOOP", "too many levels of symbolic links"],
  61: ["ENODATA", "no data available"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  // Linux defines EOPNOTSUPP == ENOTSUP == 95; node reports it as ENOTSUP, and so do we.
  95: ["ENOTSUP", "operation not supported"],
  122: ["EDQUOT", "disk quota exceeded"],
};

export interface LibcError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `E${errno}`;
}

/** The text strerror would give (lower case, as node's messages), or "errno N". */
export function errnoText(errno: number): string {
  return ERRNO[errno]?.[1] ?? `errno ${errno}`;
}

export function libcError(syscall: string, errno: number, path?: string, extra?: string): LibcError {
  const code = errnoName(errno);
  const where = [path, extra].filter((s) => s !== undefined && s !== "").join(" ");
  const err = new Error(`${syscall}${where ? ` ${where}` : ""}: ${errnoText(errno)} (${code})`) as LibcError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}
