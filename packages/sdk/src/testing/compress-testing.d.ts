// Tests import `@ferry/compress/testing` from source; its ambient module declarations come along.
/// <reference path="../../../compress/src/testing/mnist.d.ts" />
