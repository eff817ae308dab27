/** Renders an Observable Plot figure into the page, replaced whenever its inputs change. */
import { useEffect, useRef } from 'react';

export function PlotFigure({ render, label, deps }: { render: () => Element; label: string; deps: readonly unknown[] }) {
  const ref = useRef<HTMLDivElement | null>(null);
  useEffect(() => {
    const figure = render();
    ref.current?.replaceChildren(figure);
    return () => figure.remove();
    // `render` is rebuilt on every render of the caller; `deps` say when its output changes.
  }, deps);
  return <div className="plot" ref={ref} role="img" aria-label={label} />;
}
