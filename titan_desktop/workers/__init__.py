"""Workers: every worker with its host, pid, version, counters and current jobs; pause, resume
or stop one."""
