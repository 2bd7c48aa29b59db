// Passwords are stored only as yescrypt hashes ($y$, libxcrypt's default strong method) with a 128-bit
// salt from the OS. Hashing is slow on purpose: callers run it on the blocking pool, never on a loop.
import CCrypt
import Runtime
#if canImport(Glibc)
import Glibc
#endif

public enum PasswordHasher {
    /// A new salted hash of `password`.
    public static func hash(_ password: String) -> String? {
        let random = SecureRandom.bytes(16)
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let salted = random.withUnsafeBufferPointer { rbytes in
            rbytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: 16) {
                crypt_gensalt_rn("$y$", 0, $0, 16, &setting, Int32(setting.count))
            }
        }
        guard salted != nil else { return nil }
        return crypt(password, setting: setting)
    }

    /// Whether `password` matches `stored`, comparing in constant time.
    public static func verify(_ password: String, against stored: String) -> Bool {
        guard let computed = stored.withCString({ crypt(password, settingPointer: $0) }) else { return false }
        let a = Array(computed.utf8), b = Array(stored.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    private static func crypt(_ password: String, setting: [CChar]) -> String? {
        setting.withUnsafeBufferPointer { crypt(password, settingPointer: $0.baseAddress!) }
    }

    private static func crypt(_ password: String, settingPointer: UnsafePointer<CChar>) -> String? {
        guard let data = floodgate_crypt_data_new() else { return nil }
        defer {
            memset(data, 0, MemoryLayout<crypt_data>.size)  // the output buffer held key material
            free(data)
        }
        guard let result = crypt_r(password, settingPointer, data) else { return nil }
        let text = String(cString: result)
        // libxcrypt signals failure with a string starting with "*".
        return text.hasPrefix("*") ? nil : text
    }
}
