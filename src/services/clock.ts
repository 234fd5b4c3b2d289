/** Injected time source, so tests can control time without mocks. */
export type Clock = () => Date;

/** The real clock. */
export const systemClock: Clock = () => new Date();
