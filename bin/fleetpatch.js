#!/usr/bin/env node
// `npx fleetpatch …`: runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../server/main.ts');
