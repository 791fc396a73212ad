@testable import BindsnoopCore
import Testing

@Suite struct ErrnoTests {
    @Test func errnoNames() {
        #expect(ErrnoNames.name(98).map { "\($0)" } == "EADDRINUSE")
        #expect(ErrnoNames.name(13).map { "\($0)" } == "EACCES")
        #expect(ErrnoNames.name(99).map { "\($0)" } == "EADDRNOTAVAIL")
        #expect(ErrnoNames.name(0) == nil)
        #expect(ErrnoNames.name(41) == nil)
        #expect(ErrnoNames.name(100_000) == nil)
    }

    @Test func messagesAreTheCLibrarys() {
        #expect(ErrnoNames.message(98) == "Address already in use")
        #expect(ErrnoNames.message(0) == nil)
    }
}
