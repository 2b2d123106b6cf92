namespace Hyprstream.Runtime.Peft;

/// <summary>What a tensor of a PEFT adapter file is, read from its name (see <see cref="PeftTensors"/>).</summary>
public enum PeftTensorRole
{
    /// <summary><c>…lora_A.weight</c> [r, in] (or [r·experts, in] for target_parameters).</summary>
    LoraA,
    /// <summary><c>…lora_B.weight</c> [out, r].</summary>
    LoraB,
    /// <summary><c>…lora_B.bias</c> [out] (lora_bias): adds scale·b to the base layer's bias.</summary>
    LoraBBias,
    /// <summary><c>…lora_magnitude_vector</c> [out]: DoRA's per-row magnitudes.</summary>
    DoraMagnitude,
    /// <summary><c>…lora_embedding_A</c> / <c>…lora_embedding_B</c>: LoRA on an embedding.</summary>
    EmbeddingLora,
    ShiraWeight,
    ShiraIndices,
    /// <summary><c>…token_adapter.trainable_tokens_delta</c> [tokens, dim]: new values for some rows of an embedding.</summary>
    TrainableTokens,
    /// <summary>A base-model parameter saved whole (<c>….weight</c> / <c>….bias</c>): modules_to_save, a resized or targeted
    /// embedding, a bias trained with bias = all / lora_only. Its values replace the base's.</summary>
    SavedParameter,
    /// <summary>Anything else: not known to leave the model as it is, so never dropped without being asked.</summary>
    Unknown,
}
