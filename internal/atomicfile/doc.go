// Package atomicfile is the one way tcpka writes a file: drop-ins, the
// unit, the install record, revert records and journals, enforce's
// records, plan -o and the metrics textfile.
//
// WriteFile replaces the target; CreateFile refuses a target that exists
// (plan -o without --force), atomically, with no window between the check
// and the write.
//
// A write creates a temporary file exclusively (O_EXCL|O_NOFOLLOW) with an
// unpredictable name in the target's directory, writes it, sets an
// explicit mode, fsyncs it, renames it over the target and fsyncs the
// directory: a reader sees the old file or the new one, a crash leaves the
// old file and at most a temporary file that the next write of the same
// name removes, and a symlink planted at the temporary name cannot
// redirect the write. Directories are opened relative to a root one
// component at a time with O_NOFOLLOW, so a symlink below the root is
// refused, never followed out of it.
//
// Reads are bounded (a size limit applied while reading, not trusted from
// stat) and refuse symlinks and anything that is not a regular file,
// judged on the opened descriptor. PrivateDir makes and checks tcpka's
// state directories: root-owned, mode 0700, refused otherwise.
package atomicfile
