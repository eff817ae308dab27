/** Views live in the URL hash (`#/user/alice`), so a link or a reload opens the same view. */
import { useEffect, useState } from 'react';

export type ViewName = 'user' | 'experiments' | 'audiences' | 'health';
export interface Route {
  view: ViewName;
  /** The user id, experiment key or audience id the view shows. */
  id: string | null;
}

const VIEWS: readonly ViewName[] = ['user', 'experiments', 'audiences', 'health'];

function parse(hash: string): Route {
  const [view, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const id = rest.length ? decodeURIComponent(rest.join('/')) : null;
  return VIEWS.includes(view as ViewName) ? { view: view as ViewName, id } : { view: 'user', id: null };
}

export function href(view: ViewName, id?: string | null): string {
  return `#/${view}${id ? `/${encodeURIComponent(id)}` : ''}`;
}

export function navigate(view: ViewName, id?: string | null): void {
  location.hash = href(view, id);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parse(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
