// STOPSIGNAL values Docker accepts (moby/sys/signal on Linux): a number or a name.

const NAMES = new Set([
  "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
  "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
  "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
]);

export function isValidSignal(sig: string): boolean {
  if (/^\d+$/.test(sig)) return Number(sig) > 0 && Number(sig) <= 64;
  const name = sig.toUpperCase().replace(/^SIG/, "");
  if (NAMES.has(name)) return true;
  const rt = /^RTMIN\+(\d+)$|^RTMAX-(\d+)$/.exec(name);
  return rt !== null && Number(rt[1] ?? rt[2]) <= 15;
}
