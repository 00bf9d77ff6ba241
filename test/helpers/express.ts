import express5 from 'express';
import express4 from 'express4';

/** Builds an Express app; typed as Express 5's, which Express 4's apps match for what the tests use. */
export type ExpressFactory = () => express5.Express;

/** The Express versions the adapter tests run on, for `describe.each`. */
export const EXPRESS_FLAVOURS: Array<[string, ExpressFactory]> = [
  ['Express 5', () => express5()],
  ['Express 4', () => express4() as unknown as express5.Express],
];
