// Two projects: fast unit tests (no servers) and integration tests (*.int.test.ts) that
// need the real Kafka broker and MongoDB server started by infra/local (see jest/global-setup).
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }];
const moduleNameMapper = { '^@metrivo/(contracts|kafka|observability|crypto|integration-store|testing)$': '<rootDir>/packages/$1/src/index.ts' };
const roots = ['<rootDir>/packages', '<rootDir>/apps', '<rootDir>/infra', '<rootDir>/bench', '<rootDir>/scripts', '<rootDir>/e2e'];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      rootDir: __dirname,
      roots,
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/', '/dist/'],
      transform: { '^.+\\.ts$': swc },
      moduleNameMapper,
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      rootDir: __dirname,
      roots,
      testMatch: ['**/*.int.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
      transform: { '^.+\\.ts$': swc },
      moduleNameMapper,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/jest/global-setup.ts',
      globalTeardown: '<rootDir>/jest/global-teardown.ts',
    },
  ],
  // testTimeout is a global option (ignored inside a project): integration tests talk to real servers.
  testTimeout: 60000,
};
