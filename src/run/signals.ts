// Signal names → numbers for 128+N exit codes (node's os.constants.signals is not on every runtime).
const NUMBERS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGCHLD: 17, SIGCONT: 18,
  SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGXCPU: 24, SIGXFSZ: 25, SIGSYS: 31,
};

export function signalNumber(sig: string | null): number {
  return (sig && NUMBERS[sig]) || 1;
}
