/** Commander accumulator for repeatable options (`--exclude a --exclude b`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];
