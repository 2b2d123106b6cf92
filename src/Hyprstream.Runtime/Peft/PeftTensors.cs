using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>One tensor of an adapter file: its role and the model path it belongs to.</summary>
/// <param name="Module">The module path without PEFT's "base_model.model." prefix and without the role's suffix, as
/// saved (nested target_parameters wrappers keep their ".base_layer" steps); for a <see cref="PeftTensorRole.SavedParameter"/>
/// the base tensor it replaces ("score.weight", "model.layers.0.self_attn.q_proj.bias").</param>
public sealed record PeftTensor(TensorEntry Entry, PeftTensorRole Role, string Module)
{
    public string Name => Entry.Name;
}

/// <summary>
/// Sorts every tensor of an adapter file into a <see cref="PeftTensorRole"/> by PEFT's key names, so that the import
/// can account for each one: used, kept as a delta against the base, or refused by name.
/// </summary>
public static class PeftTensors
{
    private static readonly (string Suffix, PeftTensorRole Role)[] Suffixes =
    [
        (".lora_A.weight", PeftTensorRole.LoraA),
        (".lora_B.weight", PeftTensorRole.LoraB),
        (".lora_B.bias", PeftTensorRole.LoraBBias),
        (".lora_magnitude_vector.weight", PeftTensorRole.DoraMagnitude),
        (".lora_magnitude_vector", PeftTensorRole.DoraMagnitude),
        (".lora_embedding_A", PeftTensorRole.EmbeddingLora),
        (".lora_embedding_B", PeftTensorRole.EmbeddingLora),
        (".shira_weight", PeftTensorRole.ShiraWeight),
        (".shira_indices", PeftTensorRole.ShiraIndices),
        (".token_adapter.trainable_tokens_delta", PeftTensorRole.TrainableTokens),
    ];

    public static List<PeftTensor> Classify(SafetensorsFile file) => file.Tensors.Select(Classify).ToList();

    public static PeftTensor Classify(TensorEntry t)
    {
        var name = t.Name.StartsWith(PeftKeys.Prefix, StringComparison.Ordinal) ? t.Name[PeftKeys.Prefix.Length..] : t.Name;
        foreach (var (suffix, role) in Suffixes)
            if (name.EndsWith(suffix, StringComparison.Ordinal) && name.Length > suffix.Length)
                return new PeftTensor(t, role, name[..^suffix.Length]);
        // PEFT saves a targeted layer's own bias under the wrapper's base_layer: the base tensor has no such step.
        if (name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal))
            return new PeftTensor(t, PeftTensorRole.SavedParameter, name.Replace(".base_layer.", ".", StringComparison.Ordinal));
        return new PeftTensor(t, PeftTensorRole.Unknown, name);
    }

    /// <summary>Why a saved parameter is in the file, in words for messages.</summary>
    public static string DescribeSaved(PeftTensor t, PeftAdapterConfig config)
    {
        string module = t.Module[..t.Module.LastIndexOf('.')];
        if (config.ModulesToSave.Any(k => module == k || module.EndsWith("." + k, StringComparison.Ordinal)))
            return "modules_to_save: a trained copy that replaces the base's";
        string last = module[(module.LastIndexOf('.') + 1)..];
        if (last is "embed_tokens" or "lm_head" or "wte" or "embed_out" or "word_embeddings" or "shared")
            return "an embedding saved whole (vocabulary resized, or embedding trained)";
        if (t.Module.EndsWith(".bias", StringComparison.Ordinal))
            return $"a trained bias (bias = {config.Bias}) that replaces the base's";
        return "a base parameter saved whole, whose values replace the base's";
    }
}
