import '@cnode/runtime/polyfills';
