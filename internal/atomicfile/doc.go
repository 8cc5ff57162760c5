// Package atomicfile writes files so that a reader, or a process that
// restarts after kill -9 or a power cut, sees either the old content or
// the new, never a part of it.
//
// Every file nas writes for later (checkpoints, weights, arch JSON,
// histories, reports, plots) goes through [Write]: a temporary file in the
// same folder, fsynced, made 0644 (os.CreateTemp makes 0600; these are
// results to share, like the files os.WriteFile writes), then renamed over
// the destination, and the folder fsynced so the rename itself is durable.
// On any error the temporary file is removed and the destination is left
// as it was.
package atomicfile
