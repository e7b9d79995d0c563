// jest: unit tests of the pure TypeScript modules (test/*.test.ts), compiled by ts-jest with
// tsconfig.test.json (CommonJS). Run by `jlpm test` and scripts/lint-ts.sh (so by `make test`).
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'js', 'json']
};
