/** A horizontal bar list: each value as a bar scaled to the largest, with the number beside it. */
export interface Bar {
  label: string;
  value: number;
  detail?: string;
}

export function Bars({ bars, caption, format = (v) => v.toFixed(2) }: { bars: Bar[]; caption: string; format?: (v: number) => string }) {
  if (bars.length === 0) return <p className="empty">No {caption.toLowerCase()} yet.</p>;
  const max = Math.max(...bars.map((b) => b.value), Number.MIN_VALUE);
  return (
    <figure className="bars">
      <figcaption>{caption}</figcaption>
      <ul>
        {bars.map((b) => (
          <li key={b.label}>
            <span className="bar-label">{b.label}</span>
            <span className="bar-track" aria-hidden="true">
              <span className="bar-fill" style={{ width: `${(100 * Math.max(0, b.value)) / max}%` }} />
            </span>
            <span className="bar-value">
              {format(b.value)}
              {b.detail ? <small> {b.detail}</small> : null}
            </span>
          </li>
        ))}
      </ul>
    </figure>
  );
}
