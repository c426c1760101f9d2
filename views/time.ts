/** "3 min ago"-style ages and durations for tables. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

export function age(then: Date, now: Date): string {
  return `${span(now.getTime() - then.getTime())} ago`;
}

export function duration(start: string | null, end: string | null, now: Date): string {
  if (!start) return '';
  return span((end ? new Date(end) : now).getTime() - new Date(start).getTime());
}
