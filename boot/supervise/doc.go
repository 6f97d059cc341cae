// Package supervise runs the appliance's long-lived services and keeps them
// running, following the process contract of a firmware-style PID 1.
//
// # Contract for supervised programs
//
//   - Each run of a service starts in a new process group whose id is the
//     pid of the service process (Setpgid). Everything the service forks
//     stays in that group unless it deliberately leaves it.
//   - When the service process exits, the supervisor sends SIGKILL to the
//     whole process group, so no helper outlives the run that started it.
//   - Exit code 125 means "do not restart me": the service is finished and
//     the supervisor reports it as done. Any other exit, a death by signal
//     or a failure to start is restarted.
//   - Restarts back off exponentially: the first restart after a stable
//     period waits Backoff.Initial, each further quick failure doubles the
//     delay up to Backoff.Max. A run that lasted at least Backoff.Stable
//     resets the delay to Backoff.Initial.
//   - Stdout and stderr are merged and split into lines; the last
//     Service.LogLines lines (each cut to MaxLineBytes) are kept in a ring
//     readable with Handle.Lines, and optionally copied to Service.Output.
//   - Stdin is /dev/null unless Service.Stdin is set; then it is called
//     before every start (so a restarted service gets a fresh pipe, e.g.
//     hsmd's master key from PID 1) and the parent's copy is closed as
//     soon as the child has started.
//   - Status lines ("kmipd: started pid 42", "kmipd: exited 1, restart in
//     2s") are reported through Config.Status.
//   - Supervisor.Stop sends SIGTERM to every service's process group, waits
//     up to Config.Grace (or until the context ends), then sends SIGKILL, and
//     returns once every service has been reaped. Stopped services are not
//     restarted.
//
// # Reaping
//
// A PID 1 must reap every orphan the kernel re-parents to it, but reaping
// with wait4(-1) would steal the exit status of the supervisor's own
// children. A Reaper solves this: it is the only caller of wait4 in the
// process; children started through Reaper.Start are registered before the
// reaper can observe their exit, and their status is delivered to the
// starter, while unknown pids are reaped as orphans. When a Reaper is in use
// every child process of the program must be started through it (set
// Config.Reaper for the supervisor); exec.Cmd.Wait must not be used.
package supervise
