package io.statesync

import org.junit.jupiter.api.Test

/** The README's Kotlin example (extracted by extract-readme-example.py) runs unchanged. */
class ReadmeExampleTest {
    @Test
    fun `the README example runs`() {
        Class.forName("ReadmeExampleKt").getMethod("main").invoke(null)
    }
}
