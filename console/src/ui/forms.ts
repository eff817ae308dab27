import type { ChangeEvent } from 'react';

/** The value of the input, textarea or select an onChange came from. */
export const inputValue = (e: ChangeEvent): string => (e.currentTarget as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement).value;
