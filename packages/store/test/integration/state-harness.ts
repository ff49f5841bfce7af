// The datastore test helpers live in @cnode/testing, shared with the services' tests.
export { Author, freshSchema } from '@cnode/testing';
