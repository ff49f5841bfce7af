// The host functions of the Calimero ABI this SDK uses (module "env"; every parameter is a u64).

@external("env", "input")
export declare function input(register: u64): void;
@external("env", "register_len")
export declare function register_len(register: u64): u64;
@external("env", "read_register")
export declare function read_register(register: u64, buffer: u64): u32;
@external("env", "value_return")
export declare function value_return(valueReturn: u64): void;
@external("env", "storage_read")
export declare function storage_read(key: u64, register: u64): u32;
@external("env", "storage_write")
export declare function storage_write(key: u64, value: u64, register: u64): u32;
@external("env", "storage_remove")
export declare function storage_remove(key: u64, register: u64): u32;
@external("env", "log_utf8")
export declare function log_utf8(buffer: u64): void;
@external("env", "emit")
export declare function emit(event: u64): void;
@external("env", "emit_with_handler")
export declare function emit_with_handler(event: u64, handler: u64): void;
@external("env", "panic_utf8")
export declare function panic_utf8(message: u64, location: u64): void;
@external("env", "executor_id")
export declare function executor_id(register: u64): void;
@external("env", "context_id")
export declare function context_id(register: u64): void;
// This node's extension: live entries of the replicated state in key order (prefix, after, limit).
@external("env", "cnode_storage_scan")
export declare function cnode_storage_scan(prefix: u64, after: u64, limit: u64, register: u64): u32;
